package approval

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/approvallink"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
	"github.com/greenlight/greenlight/lambdas/step"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

// token looks like a Step Functions task token: long, opaque, a secret.
const token = "AQCEAAAAKgAAAAMAAAAAAAAAAd3v8kq0Zx1Yk9N5mQvB2c7pW4sRtE6uH8jL0aF3gD9xC1bV5nM2zQ7wK4yT6eR8oP0iU3lA5sD7fG9hJ1kL3zX5cV7bN9m-approve-me"

// scene is a release waiting to be approved: deployed and smoke-tested.
func scene(t *testing.T, edit func(*release.Config)) (*steptest.Env, Handler, Input) {
	t.Helper()
	e := steptest.New(t, "approval", sim.Options{})
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.Config()
	if edit != nil {
		edit(&cfg)
	}
	d := e.Doc(t, "2.0.0", "v2", body, cfg)
	e.Record(t, d)
	d.Candidate = &release.Candidate{Instances: []release.Member{{InstanceID: "i-0c0ffee0c0ffee000", PrivateIP: "10.0.1.77", PublicIP: "198.51.100.77"}},
		Poll: release.Poll{Ready: true}, Status: "ready"}
	return e, Handler{D: e.Deps}, Input{Release: d, Token: token}
}

// open runs the step as Lambda does, through step.Handler, so its failure
// log line is in the logs too.
func open(e *steptest.Env, h Handler, in Input) error {
	_, err := step.Handler("approval", e.Deps, h.Open)(e.Ctx, in)
	return err
}

func noToken(t *testing.T, e *steptest.Env) {
	t.Helper()
	if strings.Contains(e.Logs(), token) || strings.Contains(e.Logs(), token[:24]) {
		t.Errorf("the task token is in the log:\n%s", e.Logs())
	}
	for _, m := range e.Messages("") {
		if strings.Contains(m.Body, token[:24]) || strings.Contains(m.Subject, token[:24]) {
			t.Errorf("the task token is in a notification: %s\n%s", m.Subject, m.Body)
		}
	}
}

// TestApprovalStoresTheTokenAndAsks: the token is in the ledger with its
// expiry, the release awaits approval, the operators get the commands to
// answer with; the token itself is in neither the log nor the message.
func TestApprovalStoresTheTokenAndAsks(t *testing.T) {
	e, h, in := scene(t, func(c *release.Config) { c.ApprovalTimeout = release.Duration(90 * time.Minute) })
	d := in.Release
	rep := &release.Report{Target: "http://10.0.1.77:8080", Passed: true, At: e.Region.Now(), Checks: []release.CheckResult{
		{Name: "health", URL: "http://10.0.1.77:8080/healthz", Status: 200, LatencyMS: 4, Passed: true},
		{Name: "home page", URL: "http://10.0.1.77:8080/", Status: 200, LatencyMS: 7, Passed: true}}}
	// The smoke step's report, as the state machine passes it.
	in.Release.Smoke = rep
	e.Region.Advance(e.Test, 7*time.Minute)
	opened := e.Region.Now()

	if err := open(e, h, in); err != nil {
		t.Fatal(err)
	}
	rec := e.Get(t, d.ReleaseID)
	if rec.Status != ledger.StatusAwaitingApproval || rec.Token != token || !rec.TokenExpires.Equal(opened.Add(90*time.Minute)) {
		t.Fatalf("ledger: status %s, token stored %v, expires %s; want AwaitingApproval until %s", rec.Status, rec.Token == token, rec.TokenExpires, opened.Add(90*time.Minute))
	}
	if last := rec.Timeline[len(rec.Timeline)-1]; last.Step != "AwaitApproval" || !strings.Contains(last.Detail, "greenlight approve "+d.ReleaseID) ||
		!strings.Contains(last.Detail, "smoke tests: 2 of 2 checks passed against http://10.0.1.77:8080") || strings.Contains(last.Detail, token[:24]) {
		t.Errorf("timeline %+v", rec.Timeline)
	}
	// The smoke-test function may have no path to the ledger (it sits in
	// the VPC): its report is recorded here, where the CLI reads it.
	if rec.Smoke == nil || !rec.Smoke.Passed || rec.Smoke.Target != rep.Target || len(rec.Smoke.Checks) != 2 {
		t.Errorf("ledger smoke report %+v, want the document's", rec.Smoke)
	}
	msgs := e.Messages("approval")
	if len(msgs) != 1 {
		t.Fatalf("approval notifications: %+v", e.Messages(""))
	}
	body := msgs[0].Body
	for _, want := range []string{"greenlight approve " + d.ReleaseID, "greenlight reject " + d.ReleaseID, "i-0c0ffee0c0ffee000",
		"http://198.51.100.77:8080/healthz", "PASS  health", "PASS  home page", opened.Add(90 * time.Minute).Format(time.RFC1123)} {
		if !strings.Contains(body, want) {
			t.Errorf("the approval message lacks %q:\n%s", want, body)
		}
	}
	if !strings.Contains(e.Logs(), `"msg":"approval-requested"`) {
		t.Errorf("the request is not logged (so the log check below proves nothing): %s", e.Logs())
	}
	noToken(t, e)
}

// TestApprovalPrefersTheDocumentsReport: a report in the document (the
// state machine passes it) wins over the ledger's.
func TestApprovalPrefersTheDocumentsReport(t *testing.T) {
	e, h, in := scene(t, nil)
	in.Release.Smoke = &release.Report{Target: "http://10.0.1.77:8080", Passed: false, Checks: []release.CheckResult{
		{Name: "checkout", Status: 500, Problem: "status 500, want 200"}}}
	if err := open(e, h, in); err != nil {
		t.Fatal(err)
	}
	msgs := e.Messages("approval")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Body, "FAIL  checkout") || !strings.Contains(msgs[0].Body, "status 500, want 200") {
		t.Fatalf("messages %+v", msgs)
	}
	noToken(t, e)
}

// TestApprovalRefusesAnIncompleteRequest: without a token (the task did
// not pass $$.Task.Token) or a candidate, the step fails with StepFailed
// and records or sends nothing.
func TestApprovalRefusesAnIncompleteRequest(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Input)
		want string
	}{
		{"no token", func(in *Input) { in.Token = "" }, "no task token: the approval task must pass $$.Task.Token"},
		{"no candidate", func(in *Input) { in.Release.Candidate = nil }, "the release document lacks candidate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, h, in := scene(t, nil)
			c.edit(&in)
			err := open(e, h, in)
			var sf release.StepFailed
			if !errors.As(err, &sf) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%T %v, want StepFailed saying %q", err, err, c.want)
			}
			if rec := e.Get(t, in.Release.ReleaseID); rec.Status != ledger.StatusStarting || rec.Token != "" || !rec.TokenExpires.IsZero() || len(rec.Timeline) != 1 {
				t.Errorf("ledger record changed: %+v", rec)
			}
			if msgs := e.Messages(""); len(msgs) != 0 {
				t.Errorf("notified: %+v", msgs)
			}
			noToken(t, e)
		})
	}
}

// TestApprovalFailureKeepsTheTokenSecret: when the notification cannot be
// sent the step fails (the operators would never hear of the approval),
// and the failure's log line does not carry the token either.
func TestApprovalFailureKeepsTheTokenSecret(t *testing.T) {
	e, h, in := scene(t, nil)
	e.Region.Inject(sim.Fault{Service: sim.ServiceSNS, Operation: "Publish", Code: "AuthorizationError", Message: "User is not authorized to perform SNS:Publish"})
	err := open(e, h, in)
	if release.ErrorName(err) != "AWSError" || !strings.Contains(err.Error(), "sns:Publish") {
		t.Fatalf("%T %v, want AWSError from sns:Publish", err, err)
	}
	if !strings.Contains(e.Logs(), `"msg":"step failed"`) {
		t.Fatalf("the failure is not logged: %s", e.Logs())
	}
	noToken(t, e)
	// A retry (the state machine's) succeeds and asks once.
	if err := open(e, h, in); err != nil {
		t.Fatal(err)
	}
	if n := len(e.Messages("approval")); n != 1 {
		t.Errorf("%d approval messages", n)
	}
	noToken(t, e)
}

// TestApprovalFleet: for a fleet of three candidates, one per zone, the
// timeline's line sums the smoke tests up per candidate, the ledger keeps
// each instance's report, and the message lists every candidate.
func TestApprovalFleet(t *testing.T) {
	e := steptest.New(t, "approval", sim.Options{ALB: true, Zones: 3})
	f := e.Fixture
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.BehindALB(e.Config())
	cfg.Fleet = release.FleetConfig{Size: 3, SubnetIDs: f.Subnets}
	d := e.Doc(t, "2.0.0", "v2", body, cfg)
	e.Record(t, d)
	d.Candidate = &release.Candidate{Poll: release.Poll{Ready: true}, Status: "ready"}
	rep := &release.Report{Target: "3 candidates", Passed: true, At: e.Region.Now()}
	var ids []string
	for _, subnet := range f.Subnets {
		ids = append(ids, e.LaunchIn(t, subnet, map[string]string{release.TagApp: "shop", release.TagRole: release.RoleCandidate, release.TagRelease: d.ReleaseID}))
	}
	e.Region.Advance(e.Test, time.Minute)
	for slot, subnet := range f.Subnets {
		id := ids[slot]
		ip := aws.ToString(e.Instance(t, id).PrivateIpAddress)
		d.Candidate.Instances = append(d.Candidate.Instances, release.Member{Slot: slot, InstanceID: id, SubnetID: subnet, AZ: f.AZs[slot], PrivateIP: ip})
		rep.Instances = append(rep.Instances, release.InstanceReport{InstanceID: id, AZ: f.AZs[slot], Target: "http://" + ip + ":8080", Passed: true,
			Checks: []release.CheckResult{{Name: "health", Status: 200, LatencyMS: 4, Passed: true}, {Name: "home page", Status: 200, LatencyMS: 9, Passed: true}}})
	}
	d.Smoke = rep
	h := Handler{D: e.Deps}
	if err := open(e, h, Input{Release: d, Token: token}); err != nil {
		t.Fatal(err)
	}
	rec := e.Get(t, d.ReleaseID)
	if last := rec.Timeline[len(rec.Timeline)-1]; !strings.Contains(last.Detail, "smoke tests: 3 of 3 candidates passed (6 of 6 checks)") {
		t.Errorf("timeline %+v", last)
	}
	if rec.Smoke == nil || len(rec.Smoke.Instances) != 3 || rec.Smoke.Instances[1].InstanceID != d.Candidate.Instances[1].InstanceID || len(rec.Smoke.Instances[1].Checks) != 2 {
		t.Errorf("ledger smoke report %+v, want each instance's", rec.Smoke)
	}
	msgs := e.Messages("approval")
	if len(msgs) != 1 {
		t.Fatalf("approval notifications: %+v", e.Messages(""))
	}
	for _, m := range d.Candidate.Instances {
		if !strings.Contains(msgs[0].Body, m.InstanceID+"  "+m.AZ+"  "+m.PrivateIP) || !strings.Contains(msgs[0].Body, "PASS  "+m.InstanceID+"  "+m.AZ) {
			t.Errorf("the message lacks %s in %s:\n%s", m.InstanceID, m.AZ, msgs[0].Body)
		}
	}
	if !strings.Contains(msgs[0].Body, "Smoke tests on 3 candidates, all passed:") {
		t.Errorf("message:\n%s", msgs[0].Body)
	}
	noToken(t, e)
}

// TestSmokeSummaryNamesFailedCandidates: a fleet's failed candidates are
// named in the timeline's line.
func TestSmokeSummaryNamesFailedCandidates(t *testing.T) {
	r := release.Report{Instances: []release.InstanceReport{
		{InstanceID: "i-a", Passed: true, Checks: []release.CheckResult{{Passed: true}}},
		{InstanceID: "i-b", Checks: []release.CheckResult{{Passed: false}}},
	}}
	if got, want := smokeSummary(r), "smoke tests: 1 of 2 candidates passed (1 of 2 checks), failed on i-b"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// TestApprovalSignsLinks: the notification carries an approve and a
// reject link to the approval page, each signed with the stack's key for
// this release until the deadline, so that the page accepts them; the
// key itself is in neither the log nor the message.
func TestApprovalSignsLinks(t *testing.T) {
	e, h, in := scene(t, nil)
	if err := open(e, h, in); err != nil {
		t.Fatal(err)
	}
	msgs := e.Messages("approval")
	if len(msgs) != 1 {
		t.Fatalf("%d approval messages, want 1", len(msgs))
	}
	rec := e.Get(t, in.Release.ReleaseID)
	for _, action := range []string{approvallink.Approve, approvallink.Reject} {
		var found string
		for _, line := range strings.Split(msgs[0].Body, "\n") {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, steptest.ApprovalURL) && strings.Contains(l, "action="+action) {
				found = l
			}
		}
		if found == "" {
			t.Fatalf("no %s link in the notification:\n%s", action, msgs[0].Body)
		}
		u, err := url.Parse(found)
		if err != nil {
			t.Fatal(err)
		}
		link, err := approvallink.Parse([]byte(steptest.LinkKey), u.Query(), e.Region.Now())
		if err != nil || link.ReleaseID != in.Release.ReleaseID || link.App != in.Release.App || link.Action != action ||
			!link.Expires.Equal(rec.TokenExpires.Truncate(time.Second)) {
			t.Errorf("%s link %s: %+v, %v; want this release's, expiring with the approval at %s", action, found, link, err, rec.TokenExpires)
		}
	}
	if strings.Contains(e.Logs(), steptest.LinkKey) || strings.Contains(msgs[0].Body, steptest.LinkKey) {
		t.Error("the signing key is in the log or the notification")
	}
	noToken(t, e)
}

// TestApprovalWithoutLinks: approval.links false sends the commands only,
// and never reads the signing key.
func TestApprovalWithoutLinks(t *testing.T) {
	off := false
	e, h, in := scene(t, func(c *release.Config) { c.Approval.Links = &off })
	if err := open(e, h, in); err != nil {
		t.Fatal(err)
	}
	if body := e.Messages("approval")[0].Body; strings.Contains(body, steptest.ApprovalURL) || !strings.Contains(body, "greenlight approve") {
		t.Errorf("approval.links false, the notification:\n%s", body)
	}
	for _, c := range e.Region.Calls() {
		if c.Service == sim.ServiceSecrets {
			t.Errorf("approval.links false read the signing key: %s %s", c.Service, c.Operation)
		}
	}
}

// TestApprovalLinkKeyUnreadable: a key the function cannot read fails the
// step as the AWS error it is, naming the secret, before anything is sent.
func TestApprovalLinkKeyUnreadable(t *testing.T) {
	e, h, in := scene(t, nil)
	e.Region.DeleteSecret(e.Deps.Env.LinkKey)
	err := open(e, h, in)
	var ae release.AWSError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), e.Deps.Env.LinkKey) || !strings.Contains(err.Error(), "secretsmanager:GetSecretValue") {
		t.Fatalf("a deleted key: %v, want an AWSError naming the secret", err)
	}
	if n := len(e.Messages("approval")); n != 0 {
		t.Errorf("%d approval messages sent without links", n)
	}
}
