// Package mutate is spec mutation testing (issue 12): it asks whether the
// tests notice when one row of a state machine in spec/*.fsm says something
// else. Generate makes every single-row mutant of a machine parsed by package
// spec (the next state changed, one action dropped, one condition negated,
// the outcome changed among continue, done and drop); Sample draws a
// reproducible sample; Run writes each mutant into a throw-away copy of the
// tree (Workspace), rejects it as Invalid when the mutated spec fails
// spec.Check or the generator, regenerates the tables with go generate, and
// runs the fast suites (Suites) until the first failing package. A mutant
// some test fails on is killed; one every suite passes survived, unless the
// equivalence file (spec/mutants.equivalent, ParseEquivalences) argues that
// no behaviour can tell it apart. Report prints the figures and the
// survivors. The command is fuzz/mutate/specmut (make mutate).
package mutate
