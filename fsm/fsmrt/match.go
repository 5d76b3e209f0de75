package fsmrt

// Match returns the first of rows (the rules of one cell, in spec order)
// whose conditions all hold under eval, or nil when none does. spec.Check
// proves that every cell ends in an unconditional rule, so for a whole cell
// it returns nil only when rows is empty. It does not allocate. It serves
// code that walks its own copy of a table; the generated PMatch functions
// run the same loop over their package's array, which is faster.
func Match[S, E, G, A, R, P Enum](rows []Rule[S, E, G, A, R, P], eval func(G) bool) *Rule[S, E, G, A, R, P] {
next:
	for i := range rows {
		r := &rows[i]
		for _, c := range r.Conds {
			if eval(c.Guard) == c.Negate {
				continue next
			}
		}
		return r
	}
	return nil
}

// MatchIn is Match restricted to the rows that apply in profile p: a cell
// holds the rows of every profile, and each profile's rows end in an
// unconditional one (spec.Check), so it returns nil only for an empty cell
// or a profile no row is in.
func MatchIn[S, E, G, A, R, P Enum](rows []Rule[S, E, G, A, R, P], p P, eval func(G) bool) *Rule[S, E, G, A, R, P] {
next:
	for i := range rows {
		r := &rows[i]
		if r.Profiles>>p&1 == 0 {
			continue
		}
		for _, c := range r.Conds {
			if eval(c.Guard) == c.Negate {
				continue next
			}
		}
		return r
	}
	return nil
}
