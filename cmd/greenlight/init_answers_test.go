package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/internal/discover"
)

// script answers init's questions from a table, and records them.
type script struct {
	answers map[string]string // by the question's first word
	asked   []string
}

func (s *script) ask(question, def string) string {
	s.asked = append(s.asked, question)
	if a, ok := s.answers[strings.Fields(question)[0]]; ok {
		return a
	}
	return def
}

// TestInitQuestions: on a terminal, what the flags leave open is asked,
// the answers are used as given (emails split and trimmed), and a bad
// answer is refused; off a terminal the defaults are reported as assumed.
func TestInitQuestions(t *testing.T) {
	found := discover.Found{Name: "Shop Web", Volumes: []discover.Volume{{ID: "vol-1", Device: "/dev/sdf", SizeGiB: 20}}}

	s := &script{answers: map[string]string{"app": "shop", "emails": " a@example.com, ,b@example.com ", "port": "8080", "health": "/healthz", "where": "/var/lib/shop", "data": "move"}}
	a, assumed, err := answers(initFlags{}, found, s.ask, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.App != "shop" || !slices.Equal(a.Emails, []string{"a@example.com", "b@example.com"}) || a.HealthPort != 8080 || a.HealthPath != "/healthz" ||
		a.MountPoint != "/var/lib/shop" || a.DataMode != "move" || len(assumed) != 0 {
		t.Errorf("answers %+v, assumed %v", a, assumed)
	}
	if len(s.asked) != 6 {
		t.Errorf("asked %d questions: %q", len(s.asked), s.asked)
	}

	// The flags answer first: nothing they set is asked.
	s = &script{}
	if _, _, err := answers(initFlags{app: "shop", emails: []string{"a@example.com"}, healthPort: 80, healthPath: "/", mountPoint: "/data", dataMode: "restore"}, found, s.ask, true); err != nil || len(s.asked) != 0 {
		t.Errorf("asked %q (err %v) with every flag set", s.asked, err)
	}

	// Bad answers are refused with what is wrong.
	for q, bad := range map[string]string{"port": "eighty", "data": "copy"} {
		s = &script{answers: map[string]string{"where": "/data", q: bad}}
		if _, _, err := answers(initFlags{app: "shop"}, found, s.ask, true); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("answer %q to %q: err %v", bad, q, err)
		}
	}

	// Off a terminal: the Name tag names the app, defaults are assumed
	// and said so.
	a, assumed, err = answers(initFlags{mountPoint: "/data"}, found, (&script{}).ask, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.App != "shop-web" || a.HealthPort != 80 || a.HealthPath != "/" || a.DataMode != "restore" || len(assumed) != 3 {
		t.Errorf("off a terminal: %+v, assumed %q", a, assumed)
	}
}
