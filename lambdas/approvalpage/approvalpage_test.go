package approvalpage

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/approvallink"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

const token = "AQCEAAAAKgAAAAMAAAAAAAAAAd3v8kq0Zx1Yk9N5mQvB2c7pW4sRtE6uH8jL0aF3gD9xC1bV5nM2zQ7wK4yT6eR8oP0iU3lA5sD7fG9hJ1kL3zX5cV7bN9m"

// waiting is a release that waits for approval for an hour, its task
// open in the region, as the approval step leaves it.
type waiting struct {
	e        *steptest.Env
	h        Handler
	rec      ledger.Record
	task     *sim.Task
	deadline time.Time
}

func scene(t *testing.T) *waiting {
	t.Helper()
	e := steptest.New(t, "approval-page", sim.Options{})
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	d := e.Doc(t, "2.0.0", "v2", body, e.Config())
	e.Record(t, d)
	deadline := e.Region.Now().Add(time.Hour).UTC()
	if err := e.Ledger.Update(e.Test, d.App, d.ReleaseID, ledger.Change{Set: map[string]any{
		"status": ledger.StatusAwaitingApproval, "token": token, "tokenExpires": deadline, "uploadedBy": "arn:aws:iam::123456789012:user/dana",
		"candidateInstance": "i-0c0ffee0c0ffee000", "candidateAddress": "198.51.100.77",
		"smoke": release.Report{Target: "http://198.51.100.77:8080", Passed: true, Checks: []release.CheckResult{{Name: "home page", URL: "http://198.51.100.77:8080/", Status: 200, LatencyMS: 7, Passed: true}}},
	}}); err != nil {
		t.Fatal(err)
	}
	task := e.Region.AwaitTask(token, sim.TaskOptions{Timeout: time.Hour})
	return &waiting{e: e, h: Handler{D: e.Deps}, rec: e.Get(t, d.ReleaseID), task: task, deadline: deadline}
}

func (w *waiting) link(action string) string {
	return approvallink.URL([]byte(steptest.LinkKey), steptest.ApprovalURL,
		approvallink.Link{App: w.rec.App, ReleaseID: w.rec.ReleaseID, Action: action, Expires: w.deadline})
}

// request is what the function URL hands the function for a request to
// link.
func request(t *testing.T, method, link string, cookies []string, form url.Values) events.LambdaFunctionURLRequest {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	req := events.LambdaFunctionURLRequest{RawPath: "/", RawQueryString: u.RawQuery, Cookies: cookies, Headers: map[string]string{},
		RequestContext: events.LambdaFunctionURLRequestContext{HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{
			Method: method, Path: "/", SourceIP: "203.0.113.7", UserAgent: "Mobile Safari"}}}
	if form != nil {
		// Function URLs hand a form post over base64-encoded.
		req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(form.Encode())), true
		req.Headers["content-type"] = "application/x-www-form-urlencoded"
	}
	return req
}

func (w *waiting) serve(t *testing.T, req events.LambdaFunctionURLRequest) events.LambdaFunctionURLResponse {
	t.Helper()
	resp, err := w.h.Serve(w.e.Ctx, req)
	if err != nil {
		t.Fatalf("Serve failed the invocation: %v", err)
	}
	if resp.Headers["Cache-Control"] != "no-store" || resp.Headers["Referrer-Policy"] != "no-referrer" || !strings.Contains(resp.Headers["Content-Security-Policy"], "default-src 'none'") {
		t.Errorf("status %d without the page headers: %v", resp.StatusCode, resp.Headers)
	}
	if strings.Contains(resp.Body, token) || strings.Contains(resp.Body, steptest.LinkKey) {
		t.Errorf("status %d page shows the task token or the signing key", resp.StatusCode)
	}
	return resp
}

// open GETs a link as a person would, and returns the page with the form
// token its cookie and its form carry.
func (w *waiting) open(t *testing.T, link string) (events.LambdaFunctionURLResponse, []string, string) {
	t.Helper()
	resp := w.serve(t, request(t, http.MethodGet, link, nil, nil))
	if resp.StatusCode != http.StatusOK || len(resp.Cookies) != 1 {
		t.Fatalf("GET: %d, cookies %v:\n%s", resp.StatusCode, resp.Cookies, resp.Body)
	}
	nameValue, _, _ := strings.Cut(resp.Cookies[0], ";")
	_, value, _ := strings.Cut(nameValue, "=")
	return resp, []string{nameValue}, value
}

// unchanged: nothing answered, nothing recorded.
func (w *waiting) unchanged(t *testing.T, what string) {
	t.Helper()
	if r := w.task.Result(); r.Status != "" {
		t.Errorf("%s answered the task: %+v", what, r)
	}
	rec := w.e.Get(t, w.rec.ReleaseID)
	if rec.Answer != nil || rec.Token != token || len(rec.Timeline) != len(w.rec.Timeline) {
		t.Errorf("%s changed the ledger: answer %+v, token kept %v, %d events (was %d)", what, rec.Answer, rec.Token == token, len(rec.Timeline), len(w.rec.Timeline))
	}
}

// TestGetChangesNothing: a mail scanner's GET (or HEAD) of either link
// shows the confirm page and answers nothing.
func TestGetChangesNothing(t *testing.T) {
	w := scene(t)
	for _, action := range []string{approvallink.Approve, approvallink.Reject} {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodGet} {
			resp := w.serve(t, request(t, method, w.link(action), nil, nil))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %s: %d\n%s", method, action, resp.StatusCode, resp.Body)
			}
			for _, want := range []string{"2.0.0", "arn:aws:iam::123456789012:user/dana", "198.51.100.77", "home page", "left", `method="post"`} {
				if !strings.Contains(resp.Body, want) {
					t.Errorf("%s %s: the confirm page lacks %q", method, action, want)
				}
			}
		}
	}
	w.unchanged(t, "GET and HEAD")
}

// TestApproveFromTheLink: the page's form answers the task exactly as
// `greenlight approve` does, once; the ledger records how.
func TestApproveFromTheLink(t *testing.T) {
	w := scene(t)
	_, cookies, tok := w.open(t, w.link(approvallink.Approve))
	form := url.Values{"form": {tok}}
	resp := w.serve(t, request(t, http.MethodPost, w.link(approvallink.Approve), cookies, form))
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "Approved") {
		t.Fatalf("POST: %d\n%s", resp.StatusCode, resp.Body)
	}
	res := w.task.Result()
	var out release.Approval
	if res.Status != sim.TaskSucceeded || json.Unmarshal([]byte(res.Output), &out) != nil || !out.Approved || out.By != "approval link from 203.0.113.7" {
		t.Fatalf("the task's answer: %+v (%+v)", res, out)
	}
	rec := w.e.Get(t, w.rec.ReleaseID)
	if a := rec.Answer; a == nil || !a.Approved || a.Via != ledger.AnswerViaLink || a.Client != "203.0.113.7" || a.UserAgent != "Mobile Safari" {
		t.Errorf("the ledger's answer: %+v", rec.Answer)
	}
	if rec.Token != "" {
		t.Error("the spent token is still in the ledger")
	}
	if last := rec.Timeline[len(rec.Timeline)-1]; !strings.Contains(last.Detail, "approved via an approval link from 203.0.113.7") {
		t.Errorf("the timeline's last event: %+v", last)
	}
	// The same form again, and the other link: already answered.
	again := w.serve(t, request(t, http.MethodPost, w.link(approvallink.Approve), cookies, form))
	if again.StatusCode != http.StatusConflict || !strings.Contains(again.Body, "Already answered") || !strings.Contains(again.Body, "203.0.113.7") {
		t.Errorf("a second POST: %d\n%s", again.StatusCode, again.Body)
	}
	if other := w.serve(t, request(t, http.MethodGet, w.link(approvallink.Reject), nil, nil)); other.StatusCode != http.StatusConflict {
		t.Errorf("the reject link after the approval: %d", other.StatusCode)
	}
}

// TestRejectFromTheLink: a rejection needs its reason, and fails the task
// with the error the state machine rolls back on.
func TestRejectFromTheLink(t *testing.T) {
	w := scene(t)
	link := w.link(approvallink.Reject)
	_, cookies, tok := w.open(t, link)
	if resp := w.serve(t, request(t, http.MethodPost, link, cookies, url.Values{"form": {tok}, "reason": {"  "}})); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a rejection without a reason: %d", resp.StatusCode)
	}
	w.unchanged(t, "a rejection without a reason")
	resp := w.serve(t, request(t, http.MethodPost, link, cookies, url.Values{"form": {tok}, "reason": {"checkout is broken"}}))
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "Rejected") {
		t.Fatalf("POST: %d\n%s", resp.StatusCode, resp.Body)
	}
	res := w.task.Result()
	if res.Status != sim.TaskFailed || res.Error != release.Rejected || res.Cause != "rejected by approval link from 203.0.113.7: checkout is broken" {
		t.Errorf("the task's answer: %+v", res)
	}
}

// TestRefusals: a forged form, a changed character, another app's link,
// an expired link, an answer the CLI gave first: each is refused with its
// page, and nothing is answered.
func TestRefusals(t *testing.T) {
	t.Run("form without its cookie", func(t *testing.T) {
		w := scene(t)
		_, _, tok := w.open(t, w.link(approvallink.Approve))
		resp := w.serve(t, request(t, http.MethodPost, w.link(approvallink.Approve), nil, url.Values{"form": {tok}}))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%d\n%s", resp.StatusCode, resp.Body)
		}
		w.unchanged(t, "a form without its cookie")
	})
	t.Run("one character changed", func(t *testing.T) {
		w := scene(t)
		link := w.link(approvallink.Approve)
		i := strings.Index(link, "sig=") + 6
		c := byte('A')
		if link[i] == 'A' {
			c = 'B'
		}
		tampered := link[:i] + string(c) + link[i+1:]
		resp := w.serve(t, request(t, http.MethodGet, tampered, nil, nil))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Body, "not valid") {
			t.Errorf("%d\n%s", resp.StatusCode, resp.Body)
		}
		w.unchanged(t, "a tampered link")
	})
	t.Run("another app", func(t *testing.T) {
		w := scene(t)
		link := approvallink.URL([]byte(steptest.LinkKey), steptest.ApprovalURL, approvallink.Link{App: "blog", ReleaseID: w.rec.ReleaseID, Action: approvallink.Approve, Expires: w.deadline})
		if resp := w.serve(t, request(t, http.MethodGet, link, nil, nil)); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%d\n%s", resp.StatusCode, resp.Body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		w := scene(t)
		_, cookies, tok := w.open(t, w.link(approvallink.Approve))
		w.e.Region.AdvanceTo(w.e.Test, w.deadline)
		resp := w.serve(t, request(t, http.MethodPost, w.link(approvallink.Approve), cookies, url.Values{"form": {tok}}))
		if resp.StatusCode != http.StatusGone || !strings.Contains(resp.Body, "expired") || !strings.Contains(resp.Body, w.rec.ReleaseID) {
			t.Errorf("%d\n%s", resp.StatusCode, resp.Body)
		}
	})
	t.Run("answered by the CLI first", func(t *testing.T) {
		w := scene(t)
		_, cookies, tok := w.open(t, w.link(approvallink.Approve))
		cli := ledger.Answer{Approved: false, By: "arn:aws:iam::123456789012:user/ops", Via: ledger.AnswerViaCLI, At: w.e.Region.Now()}
		if won, err := w.e.Ledger.ClaimAnswer(w.e.Test, w.rec.App, w.rec.ReleaseID, token, cli); err != nil || !won {
			t.Fatal(won, err)
		}
		resp := w.serve(t, request(t, http.MethodPost, w.link(approvallink.Approve), cookies, url.Values{"form": {tok}}))
		if resp.StatusCode != http.StatusConflict || !strings.Contains(resp.Body, "rejected by arn:aws:iam::123456789012:user/ops") {
			t.Errorf("%d\n%s", resp.StatusCode, resp.Body)
		}
		if r := w.task.Result(); r.Status != "" {
			t.Errorf("the link answered after the CLI: %+v", r)
		}
	})
	t.Run("approval timed out in Step Functions", func(t *testing.T) {
		w := scene(t)
		_, cookies, tok := w.open(t, w.link(approvallink.Approve))
		// The task ends a little before the link does (the link's
		// deadline is rounded down to the second, the task's is not).
		w.e.Region.Inject(sim.Fault{Service: sim.ServiceSFN, Operation: "SendTaskSuccess", Code: "TaskTimedOut"})
		resp := w.serve(t, request(t, http.MethodPost, w.link(approvallink.Approve), cookies, url.Values{"form": {tok}}))
		if resp.StatusCode != http.StatusConflict || !strings.Contains(resp.Body, "no longer waits") {
			t.Errorf("%d\n%s", resp.StatusCode, resp.Body)
		}
		if rec := w.e.Get(t, w.rec.ReleaseID); rec.Answer != nil {
			t.Errorf("the ledger keeps an answer Step Functions never took: %+v", rec.Answer)
		}
	})
}

// TestAnswerAfterAFault: Step Functions throttles after the ledger took
// the answer: the claim is taken back, the page says try again, and the
// same form then answers.
func TestAnswerAfterAFault(t *testing.T) {
	w := scene(t)
	_, cookies, tok := w.open(t, w.link(approvallink.Approve))
	form := url.Values{"form": {tok}}
	w.e.Region.Inject(sim.Fault{Service: sim.ServiceSFN, Operation: "SendTaskSuccess", Code: "ThrottlingException"})
	if resp := w.serve(t, request(t, http.MethodPost, w.link(approvallink.Approve), cookies, form)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("throttled: %d\n%s", resp.StatusCode, resp.Body)
	}
	w.unchanged(t, "a throttled answer")
	if resp := w.serve(t, request(t, http.MethodPost, w.link(approvallink.Approve), cookies, form)); resp.StatusCode != http.StatusOK {
		t.Fatalf("the retry: %d\n%s", resp.StatusCode, resp.Body)
	}
	if r := w.task.Result(); r.Status != sim.TaskSucceeded {
		t.Errorf("the retry's answer: %+v", r)
	}
}

// TestAnswerStandsWhenTheLedgerFailsAfter: the ledger refuses the token's
// clearing after Step Functions took the answer: the outcome still shows,
// and the link is answered for good.
func TestAnswerStandsWhenTheLedgerFailsAfter(t *testing.T) {
	w := scene(t)
	_, cookies, tok := w.open(t, w.link(approvallink.Approve))
	// The claim is the first UpdateItem, the token's clearing the second.
	w.e.Region.Inject(sim.Fault{Service: sim.ServiceDynamoDB, Operation: "UpdateItem", Caller: "approval-page", Code: "InternalServerError", Nth: 2, Times: 2})
	resp := w.serve(t, request(t, http.MethodPost, w.link(approvallink.Approve), cookies, url.Values{"form": {tok}}))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d\n%s", resp.StatusCode, resp.Body)
	}
	if r := w.task.Result(); r.Status != sim.TaskSucceeded {
		t.Errorf("the answer: %+v", r)
	}
	failed := 0
	for _, c := range w.e.Region.Calls() {
		if c.Caller == "approval-page" && c.Operation == "UpdateItem" && c.Code == "InternalServerError" {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("%d ledger writes failed after the answer, want 2 (the fault did not land)", failed)
	}
	if again := w.serve(t, request(t, http.MethodGet, w.link(approvallink.Approve), nil, nil)); again.StatusCode != http.StatusConflict {
		t.Errorf("the link after its answer: %d\n%s", again.StatusCode, again.Body)
	}
}
