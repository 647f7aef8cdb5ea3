package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
)

// releaseView is a release as the commands show it, text or JSON. It is
// built from the ledger record and never carries the task token.
type releaseView struct {
	App                      string          `json:"app"`
	ReleaseID                string          `json:"releaseId"`
	Version                  string          `json:"version"`
	Kind                     string          `json:"kind,omitempty"`
	Status                   string          `json:"status"`
	Ended                    bool            `json:"ended"`
	StartedAt                time.Time       `json:"startedAt"`
	EndedAt                  *time.Time      `json:"endedAt,omitempty"`
	Artifact                 string          `json:"artifact,omitempty"`
	Execution                string          `json:"execution,omitempty"`
	Console                  string          `json:"console,omitempty"`
	LiveInstance             string          `json:"liveInstance,omitempty"`
	CandidateInstance        string          `json:"candidateInstance,omitempty"`
	CandidateAddress         string          `json:"candidateAddress,omitempty"`
	LeadTimeSeconds          float64         `json:"leadTimeSeconds,omitempty"`
	MaintenanceWindowSeconds float64         `json:"maintenanceWindowSeconds,omitempty"`
	ApprovedBy               string          `json:"approvedBy,omitempty"`
	Reason                   string          `json:"reason,omitempty"`
	Failure                  string          `json:"failure,omitempty"`
	Left                     []string        `json:"left,omitempty"`
	Duplicates               int             `json:"duplicates,omitempty"`
	Smoke                    *release.Report `json:"smoke,omitempty"`
	Approval                 *approvalView   `json:"approval,omitempty"`
	Answer                   *ledger.Answer  `json:"answer,omitempty"`
	// Traffic, behind an ALB, is the traffic step under way or last
	// reached: the candidate's share and the live side's.
	Traffic  *trafficView `json:"traffic,omitempty"`
	Requests []string     `json:"requests,omitempty"`
	Timeline []eventView  `json:"timeline"`
}

// trafficView is a release's traffic step behind an ALB.
type trafficView struct {
	Weights map[string]int `json:"weights"` // candidate, live: percent
	Step    int            `json:"step"`
	Steps   int            `json:"steps"`
}

// approvalView is a release's approval while it waits or after it timed
// out, with the exact commands that answer it.
type approvalView struct {
	Pending bool      `json:"pending"`
	Expired bool      `json:"expired"`
	Expires time.Time `json:"expires"`
	Approve string    `json:"approve,omitempty"`
	Reject  string    `json:"reject,omitempty"`
}

type eventView struct {
	At     time.Time `json:"at"`
	Step   string    `json:"step"`
	Detail string    `json:"detail"`
}

// servingView is the app's serving state: what is live and what is kept
// for rollback.
type servingView struct {
	LiveInstance string `json:"liveInstance"`
	// LiveInstances and PreviousInstances are the whole sides (a fleet);
	// the singular fields name their first instance.
	LiveInstances     []string   `json:"liveInstances"`
	PreviousInstances []string   `json:"previousInstances,omitempty"`
	LiveRelease       string     `json:"liveRelease,omitempty"`
	LiveVersion       string     `json:"liveVersion,omitempty"`
	PreviousInstance  string     `json:"previousInstance,omitempty"`
	PreviousRelease   string     `json:"previousRelease,omitempty"`
	PreviousVersion   string     `json:"previousVersion,omitempty"`
	RetireAfter       *time.Time `json:"retireAfter,omitempty"`
	Updated           time.Time  `json:"updated"`
}

// statusView is what `greenlight status` prints.
type statusView struct {
	Now     time.Time    `json:"now"`
	Release releaseView  `json:"release"`
	Serving *servingView `json:"serving,omitempty"`
	// ApprovalLinks, on the local engine while the release waits, are
	// the notification's approve and reject links, served on loopback.
	ApprovalLinks *linksView `json:"approvalLinks,omitempty"`
}

// linksView is an approval's signed links.
type linksView struct {
	Approve string `json:"approve"`
	Reject  string `json:"reject"`
}

// approvalState tells whether a record waits for an answer now: it holds
// a token whose deadline has not passed.
func approvalState(r ledger.Record, now time.Time) (pending, expired bool) {
	if r.Token == "" || r.Status != ledger.StatusAwaitingApproval {
		return false, false
	}
	if !r.TokenExpires.IsZero() && !now.Before(r.TokenExpires) {
		return false, true
	}
	return true, false
}

func viewOf(b *backend, r ledger.Record, now time.Time) releaseView {
	v := releaseView{
		App: r.App, ReleaseID: r.ReleaseID, Version: r.Version, Kind: r.Kind, Status: r.Status, Ended: ledger.Terminal(r.Status),
		StartedAt: r.StartedAt, Artifact: r.Artifact, Execution: r.Execution,
		LiveInstance: r.LiveInstance, CandidateInstance: r.CandidateInstance, CandidateAddress: r.CandidateAddress,
		LeadTimeSeconds: r.LeadTimeSeconds, MaintenanceWindowSeconds: r.MaintenanceWindowSeconds,
		ApprovedBy: r.ApprovedBy, Reason: r.Reason, Failure: r.Failure, Left: r.Left, Duplicates: r.Duplicates,
		Smoke: r.Smoke, Timeline: []eventView{},
	}
	v.Answer = r.Answer
	if !r.EndedAt.IsZero() {
		t := r.EndedAt
		v.EndedAt = &t
	}
	if t := r.Traffic; t != nil {
		v.Traffic = &trafficView{Weights: map[string]int{"candidate": t.Weight, "live": 100 - t.Weight}, Step: t.Step, Steps: t.Steps}
	}
	for _, q := range []struct {
		what string
		r    *ledger.Request
	}{{"abort", r.AbortRequested}, {"promote", r.PromoteRequested}} {
		if q.r != nil {
			v.Requests = append(v.Requests, fmt.Sprintf("%s asked by %s at %s", q.what, q.r.By, stamp(q.r.At)))
		}
	}
	if !b.Local {
		v.Console = notify.ConsoleURL(b.Region, r.Execution)
	}
	for _, e := range r.Timeline {
		v.Timeline = append(v.Timeline, eventView(e))
	}
	if pending, expired := approvalState(r, now); pending || expired {
		v.Approval = &approvalView{Pending: pending, Expired: expired, Expires: r.TokenExpires}
		if pending {
			v.Approval.Approve = "greenlight approve " + r.ReleaseID + b.Hint
			v.Approval.Reject = "greenlight reject " + r.ReleaseID + b.Hint + ` --reason "..."`
		}
	}
	return v
}

func servingOf(s ledger.Serving) *servingView {
	v := &servingView{LiveInstance: s.LiveInstance, LiveInstances: s.LiveIDs(), PreviousInstances: s.PreviousIDs(), LiveRelease: s.LiveRelease, LiveVersion: s.LiveVersion,
		PreviousInstance: s.PreviousInstance, PreviousRelease: s.PreviousRelease, PreviousVersion: s.PreviousVersion, Updated: s.Updated}
	if !s.RetireAfter.IsZero() {
		t := s.RetireAfter
		v.RetireAfter = &t
	}
	return v
}

// findRelease reads one release, or the newest when id is empty.
func findRelease(ctx context.Context, b *backend, id string) (ledger.Record, error) {
	if id != "" {
		r, err := b.Ledger.Get(ctx, b.App, id)
		if errors.Is(err, ledger.ErrNotFound) {
			return r, withCode(exitPending, fmt.Errorf("no release %s of %s in %s: `greenlight history%s` lists them", id, b.App, b.Where, b.Hint))
		}
		if err != nil {
			return r, ledgerError(b, err)
		}
		return r, nil
	}
	recs, err := b.Ledger.History(ctx, b.App)
	if err != nil {
		return ledger.Record{}, ledgerError(b, err)
	}
	if len(recs) == 0 {
		return ledger.Record{}, withCode(exitPending, fmt.Errorf("no releases of %s in %s yet: upload one with `greenlight release FILE%s`", b.App, b.Where, b.Hint))
	}
	return recs[0], nil
}

func ledgerError(b *backend, err error) error {
	if b.Local && isUnreachable(err) {
		return withCode(exitAWS, &fixError{msg: "the local engine stopped answering: `greenlight local` has ended (it stays up only while its release runs)", err: err})
	}
	return awsError("read the ledger "+b.Table, "dynamodb:Query/GetItem", err, nil)
}

// Text helpers.

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in " + roughly(-d)
	}
	return roughly(d) + " ago"
}

// roughly rounds a duration for people: 42s, 3m10s, 5h20m, 2d4h.
func roughly(d time.Duration) string {
	switch d = d.Round(time.Second); {
	case d < time.Minute:
		return d.String()
	case d < time.Hour:
		if m, s := int(d/time.Minute), int(d%time.Minute/time.Second); s > 0 {
			return fmt.Sprintf("%dm%ds", m, s)
		}
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		if h, m := int(d/time.Hour), int(d%time.Hour/time.Minute); m > 0 {
			return fmt.Sprintf("%dh%dm", h, m)
		}
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%dh", days, int((d-time.Duration(days)*24*time.Hour)/time.Hour))
}

func seconds(s float64) string {
	if s <= 0 {
		return "-"
	}
	return roughly(time.Duration(s * float64(time.Second)))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// outcome words a status for a table: the failure's error name with it.
func outcome(r ledger.Record) string {
	if r.Failure == "" || r.Status == ledger.StatusReleased {
		return r.Status
	}
	name, _, _ := strings.Cut(r.Failure, ":")
	return r.Status + " (" + name + ")"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether w (or r) is a terminal rather than a pipe or
// a file.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
