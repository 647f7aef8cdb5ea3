package approvallink

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"
)

// The pages are small, self-contained HTML: one inline style, no scripts,
// no external assets, so they render the same in any mail client's browser
// and need nothing beyond the function URL. The handler sets the headers.

//go:embed templates/*.html
var templateFS embed.FS

var (
	confirmTemplate = parsePage("confirm.html")
	outcomeTemplate = parsePage("outcome.html")
	refusalTemplate = parsePage("refusal.html")
)

// parsePage is the shared layout with one page's "title" and "body".
// The templates are embedded, so a parse error is a build fault: the tests
// load this package and would fail first.
func parsePage(name string) *template.Template {
	return template.Must(template.ParseFS(templateFS, "templates/layout.html", "templates/"+name))
}

func render(t *template.Template, name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		return nil, fmt.Errorf("approvallink: rendering the %s page: %w", name, err)
	}
	return b.Bytes(), nil
}

// Candidate is one instance the approver can try before deciding.
type Candidate struct{ InstanceID, Zone, Address string }

// Check is one smoke-test result line.
type Check struct {
	Name, URL string
	Status    int
	LatencyMS int64
	Passed    bool
	Problem   string
}

// SmokeInstance is one instance's smoke tests in a fleet's report.
type SmokeInstance struct {
	InstanceID, Zone, Target string
	Passed                   bool
	Checks                   []Check
}

// Smoke is a smoke-test report: either Checks (one instance) or Instances
// (a fleet), each with its checks.
type Smoke struct {
	Target    string
	Passed    bool
	Checks    []Check
	Instances []SmokeInstance
}

// Confirm is the page a link's GET shows: everything needed to decide, and
// the one form whose POST answers.
type Confirm struct {
	Link       Link // Action says which button: "Approve release" (green) or "Reject release" (red)
	Version    string
	UploadedBy string // "" -> "unknown (the artifact carries no uploader)"
	StartedAt  time.Time
	Candidates []Candidate
	Smoke      *Smoke // nil -> "no smoke tests ran"
	Now        time.Time
	FormToken  string // the hidden input "form", and nowhere else on the page
	PostURL    string // the form's action: the same link URL (the query carries the signed fields)
}

type candidateView struct {
	Candidate
	Href string
}

type confirmView struct {
	Title, Heading, Action, Button string
	Reject                         bool
	App, Version, ReleaseID        string
	UploadedBy, Started            string
	Deadline, Left                 string
	Candidates                     []candidateView
	Smoke                          *Smoke
	FormToken, PostURL             string
}

// ConfirmPage renders the confirm page. It refuses an unknown action and a
// missing form token: either page could only fail when posted.
func ConfirmPage(p Confirm) ([]byte, error) {
	verb, ok := verbs[p.Link.Action]
	if !ok {
		return nil, fmt.Errorf("approvallink: confirm page for action %q, want %q or %q", p.Link.Action, Approve, Reject)
	}
	if p.FormToken == "" {
		return nil, fmt.Errorf("approvallink: confirm page without a form token")
	}
	name := words(p.Link.App, p.Version)
	v := confirmView{
		Title:      words(verb, name) + " — greenlight",
		Heading:    words(verb, name) + "?",
		Action:     p.Link.Action,
		Button:     verb + " release",
		Reject:     p.Link.Action == Reject,
		App:        p.Link.App,
		Version:    p.Version,
		ReleaseID:  p.Link.ReleaseID,
		UploadedBy: p.UploadedBy,
		Started:    clock(p.StartedAt),
		Deadline:   clock(p.Link.Expires),
		Left:       TimeLeft(p.Link.Expires.Sub(p.Now)),
		Smoke:      p.Smoke,
		FormToken:  p.FormToken,
		PostURL:    p.PostURL,
	}
	if v.UploadedBy == "" {
		v.UploadedBy = "unknown (the artifact carries no uploader)"
	}
	for _, c := range p.Candidates {
		v.Candidates = append(v.Candidates, candidateView{Candidate: c, Href: tryURL(c.Address)})
	}
	return render(confirmTemplate, "confirm", v)
}

var verbs = map[string]string{Approve: "Approve", Reject: "Reject"}

// tryURL is the link to try a candidate: its address over plain HTTP,
// since candidates are reached directly, before any TLS in front of them.
func tryURL(addr string) string {
	switch {
	case addr == "":
		return ""
	case strings.HasPrefix(addr, "http://"), strings.HasPrefix(addr, "https://"):
		return addr
	}
	return "http://" + addr
}

// Outcome is the page a POST shows once the answer is recorded.
type Outcome struct {
	Link     Link
	Version  string
	Approved bool
	By       string // e.g. "approval link from 203.0.113.7"
	Reason   string
	At       time.Time
	Follow   string // a command, e.g. "greenlight status r-123 --watch"
}

type outcomeView struct {
	Title, Release, ReleaseID string
	Approved                  bool
	By, Reason, At, Follow    string
}

// OutcomePage renders the answer and what happens next.
func OutcomePage(p Outcome) ([]byte, error) {
	heading := "Rejected"
	if p.Approved {
		heading = "Approved"
	}
	name := words(p.Link.App, p.Version)
	return render(outcomeTemplate, "outcome", outcomeView{
		Title:     words(heading, name) + " — greenlight",
		Release:   orElse(name, "The release"),
		ReleaseID: p.Link.ReleaseID,
		Approved:  p.Approved,
		By:        orElse(p.By, "unknown"),
		Reason:    p.Reason,
		At:        clock(p.At),
		Follow:    p.Follow,
	})
}

// Refusal is the page for a link that cannot be used, and why.
type Refusal struct {
	Status  int    // the HTTP status the handler sends; carried, not shown
	Title   string // e.g. "This link has expired"
	Message string // plain text, may be several sentences
	Hint    string // optional: what to do instead, e.g. "greenlight approve r-123"; shown in <code>
}

// RefusalPage renders a refusal.
func RefusalPage(p Refusal) ([]byte, error) {
	p.Title = orElse(p.Title, "This link cannot be used")
	return render(refusalTemplate, "refusal", p)
}

// TimeLeft words a duration as the confirm page does: "3h 12m", "12m",
// "45s", and "0s" for d <= 0. It rounds down, never promising time that is
// not there.
func TimeLeft(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	h, m, s := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	switch {
	case h > 0:
		return strconv.FormatInt(h, 10) + "h " + strconv.FormatInt(m, 10) + "m"
	case m > 0:
		return strconv.FormatInt(m, 10) + "m"
	}
	return strconv.FormatInt(s, 10) + "s"
}

// clock is a time as the pages show it: UTC to the minute, readable
// wherever the approver is.
func clock(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// words joins the non-empty parts with spaces.
func words(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
