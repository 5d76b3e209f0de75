package scenario

import (
	"strings"
	"testing"

	"github.com/netspec/netspec/fsm/tcp"
)

// TestProfileRows: across the scripts that pin a profile (--profile=), every
// profile-specific row of spec/tcp.fsm fires in a script of its profile, and
// no script fires a row outside its own profile.
func TestProfileRows(t *testing.T) {
	fired := make([][]bool, tcp.NumProfiles) // [profile][rule]
	for p := range fired {
		fired[p] = make([]bool, len(tcp.Rules))
	}
	pinned := 0
	for _, s := range loadScripts(t) {
		name, ok := s.Options["profile"]
		if !ok {
			continue
		}
		p, ok := tcp.ParseProfile(name)
		if !ok {
			t.Fatalf("%s: unknown profile %q", s.Name, name)
		}
		pinned++
		res, err := Run(s, Options{Seed: 1})
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		for i, h := range res.RuleHits {
			if h == 0 {
				continue
			}
			fired[p][i] = true
			if r := &tcp.Rules[i]; !r.In(p) {
				t.Errorf("%s (profile %s) fired %s, which is not in its profile", s.Name, p, r)
			}
		}
	}
	if pinned == 0 {
		t.Fatal("no script pins a profile")
	}
	// A spec line naming several states is one row per state: it counts as
	// fired in a profile when any of them fired there.
	all := uint8(1)<<tcp.NumProfiles - 1
	type key struct {
		src string
		p   tcp.Profile
	}
	lineFired := map[key]bool{}
	lines := map[string]*tcp.Rule{}
	for i := range tcp.Rules {
		r := &tcp.Rules[i]
		if r.Profiles == all {
			continue
		}
		lines[r.Src] = r
		for p := tcp.Profile(0); p < tcp.NumProfiles; p++ {
			if fired[p][i] {
				lineFired[key{r.Src, p}] = true
			}
		}
	}
	specific := len(lines)
	if specific == 0 {
		t.Fatal("spec/tcp.fsm has no profile-specific rows")
	}
	for src, r := range lines {
		for p := tcp.Profile(0); p < tcp.NumProfiles; p++ {
			if r.In(p) && !lineFired[key{src, p}] {
				t.Errorf("profile %s: no script fired %s", p, src)
			}
		}
	}
	t.Logf("%d profile-specific spec lines, each fired in its profile by %d pinned scripts", specific, pinned)
}

// TestProfileOption: --profile= takes a declared profile name only.
func TestProfileOption(t *testing.T) {
	src := "// covers: MUST-8\n--profile=bsd\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
	s, err := Parse("bad.pkt", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(s, Options{Seed: 1}); err == nil || !strings.Contains(err.Error(), "unknown profile") {
		t.Fatalf("Run with --profile=bsd: %v", err)
	}
}

// linuxOnly lists the scripts without a --profile= line whose expectations
// hold under the linux profile only, each with the rfc9293 twin that pins
// the strict behaviour.
var linuxOnly = map[string]string{
	"syn-sent-simultaneous.pkt": "the peer's SYN,ACK at IRS is a sequence-check failure in rfc9293 (ACKed, dropped): profile-simultaneous-rfc9293.pkt",
	"listen.pkt":                "a retransmitted SYN in SYN-RECEIVED is a sequence-check failure in rfc9293 (ACKed, dropped): profile-dup-syn-rfc9293.pkt",
}

// TestScriptsUnderRFC9293: every script that pins no profile also passes
// under the rfc9293 profile, except the linuxOnly ones, which must fail
// there (else the entry is stale). The profiles differ only in their twin
// rows, so this shows which scripts reach one.
func TestScriptsUnderRFC9293(t *testing.T) {
	p, ok := tcp.ParseProfile("rfc9293")
	if !ok {
		t.Fatal("no rfc9293 profile")
	}
	n := 0
	seen := map[string]bool{}
	for _, s := range loadScripts(t) {
		seen[s.Name] = true
		if _, pinned := s.Options["profile"]; pinned || s.KnownBug != "" {
			continue
		}
		n++
		_, err := Run(s, Options{Seed: 1, TCP: tcp.Config{Profile: p}})
		why, listed := linuxOnly[s.Name]
		switch {
		case err != nil && !listed:
			t.Errorf("%s fails under rfc9293:\n%v", s.Name, err)
		case err == nil && listed:
			t.Errorf("%s passes under rfc9293: remove it from linuxOnly (%s)", s.Name, why)
		}
	}
	for name := range linuxOnly {
		if !seen[name] {
			t.Errorf("linuxOnly names %s, which is not a script", name)
		}
	}
	t.Logf("%d unpinned scripts run under rfc9293 (%d linux-only)", n, len(linuxOnly))
}
