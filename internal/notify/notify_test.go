package notify

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/greenlight/greenlight/internal/release"
)

var update = flag.Bool("update", false, "rewrite the golden messages in testdata/")

const (
	execution = "arn:aws:states:eu-west-1:123456789012:execution:greenlight-shop-release:shop-1.4.0-0a1b2c3d4e"
	console   = "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/" + execution
)

var (
	at      = time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC)
	expires = at.Add(24 * time.Hour)
	retire  = at.Add(7 * 24 * time.Hour)
)

// doc is a release that got as far as the approval.
func doc() release.Doc {
	cfg := release.Config{App: "shop", HealthCheck: release.HealthCheck{Port: 8080, Path: "/healthz"}, Data: release.DataConfig{Mode: release.DataNone}}
	return release.Doc{
		ReleaseID: "shop-1.4.0-0a1b2c3d4e", Execution: execution, App: "shop", Version: "1.4.0", StartedAt: at,
		Artifact: release.Artifact{Bucket: "greenlight-shop-releases", Key: "releases/shop-1.4.0.tar.gz", VersionID: "v1"},
		Config:   cfg,
		Live: release.Live{InstanceID: "i-0live000000000001", AllocationID: "eipalloc-0a1b2c3d4e5f60718", PublicIP: "203.0.113.10",
			Version: "1.3.2", PrivateIP: "10.0.1.10"},
		Candidate: &release.Candidate{Instances: []release.Member{{InstanceID: "i-0cand000000000002", PrivateIP: "10.0.1.20"}}},
	}
}

// albDoc is doc behind a load balancer: no Elastic IP, the load
// balancer's DNS name as the public address.
func albDoc() release.Doc {
	d := doc()
	d.Config.Traffic = release.TrafficConfig{Mode: release.TrafficALB, ALB: &release.ALBConfig{
		ListenerARN:     "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2",
		TargetGroupARNs: []string{"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/73e2d6bc24d8a067", "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-green/2453ed029918f21f"},
	}}
	d.Live.AllocationID, d.Live.PublicIP = "", "shop-1234567890.eu-west-1.elb.amazonaws.com"
	return d
}

// fleetDoc is albDoc with sides of three: the live fleet and three
// candidates, one per zone.
func fleetDoc() release.Doc {
	d := albDoc()
	d.Config.Fleet = release.FleetConfig{Size: 3}
	d.Live.InstanceIDs = []string{"i-0live000000000001", "i-0live000000000003", "i-0live000000000005"}
	d.Candidate = &release.Candidate{Instances: []release.Member{
		{Slot: 0, InstanceID: "i-0cand000000000002", AZ: "eu-west-1a", PrivateIP: "10.0.1.20"},
		{Slot: 1, InstanceID: "i-0cand000000000004", AZ: "eu-west-1b", PrivateIP: "10.0.2.40"},
		{Slot: 2, InstanceID: "i-0cand000000000006", AZ: "eu-west-1c", PrivateIP: "10.0.3.60"},
	}}
	return d
}

// fleetReport is a fleet's smoke tests: two candidates pass, the third
// fails one check.
func fleetReport() *release.Report {
	pass := func(id, az, ip string) release.InstanceReport {
		return release.InstanceReport{InstanceID: id, AZ: az, Target: "http://" + ip + ":8080", Passed: true, Checks: []release.CheckResult{
			{Name: "health", Status: 200, LatencyMS: 3, Passed: true}, {Name: "home page", Status: 200, LatencyMS: 40, Passed: true}}}
	}
	bad := pass("i-0cand000000000006", "eu-west-1c", "10.0.3.60")
	bad.Passed = false
	bad.Checks[1] = release.CheckResult{Name: "home page", Status: 500, LatencyMS: 12, Problem: "status 500, want 200"}
	return &release.Report{Target: "3 candidates", Passed: false, At: at, Instances: []release.InstanceReport{
		pass("i-0cand000000000002", "eu-west-1a", "10.0.1.20"), pass("i-0cand000000000004", "eu-west-1b", "10.0.2.40"), bad}}
}

func report() *release.Report {
	return &release.Report{Target: "10.0.1.20", Passed: false, At: at, Checks: []release.CheckResult{
		{Name: "home page", Status: 200, LatencyMS: 42, Passed: true},
		{Name: "version", Status: 0, Passed: false, Problem: "no answer: dial tcp 10.0.1.20:8080: connect: connection refused after 3 attempts over 2.5s while the service was still starting up"},
	}}
}

func withFailure(d release.Doc, errName, cause string) release.Doc {
	d.Failure = &release.Failure{Error: errName, Cause: cause}
	return d
}

func switched(d release.Doc) release.Doc {
	d.Switch = &release.Switch{From: d.Live.InstanceID, To: d.Candidate.First().InstanceID}
	return d
}

func approved(d release.Doc) release.Doc {
	d.Approval = &release.Approval{Approved: true, By: "arn:aws:sts::123456789012:assumed-role/ops/alice", Reason: "checked the checkout page", At: at}
	return d
}

// want is what an operator must find in a message to act on it.
type want struct {
	kind, subject string
	urgent        bool
	contains      []string
	absent        []string
}

func TestMessages(t *testing.T) {
	leftToDo := []string{"undo eip-moved eipalloc-0a1b2c3d4e5f60718 from i-0live000000000001 to i-0cand000000000002", "failed at eip-moved: AccessDenied"}
	cases := []struct {
		name string
		msg  Message
		want want
	}{
		{"started", Started(doc(), "eu-west-1"), want{
			kind: "started", subject: "[greenlight] shop 1.4.0: release started",
			contains: []string{"shop-1.4.0-0a1b2c3d4e", "1.4.0", "i-0live000000000001", "1.3.2", "s3://greenlight-shop-releases/releases/shop-1.4.0.tar.gz",
				"greenlight status shop-1.4.0-0a1b2c3d4e --watch", console},
		}},
		{"approval", AwaitingApproval(doc(), report(), expires, "eu-west-1", testLinks), want{
			kind: "approval", subject: "[greenlight] shop 1.4.0: approval needed",
			contains: []string{"shop-1.4.0-0a1b2c3d4e", "i-0cand000000000002", "10.0.1.20", "http://10.0.1.20:8080/healthz", "i-0live000000000001 (1.3.2)",
				"Tue, 03 Mar 2026 10:15:00 UTC", "PASS  home page", "HTTP 200 in 42 ms", "FAIL  version", "no response", "connection refused",
				"greenlight approve shop-1.4.0-0a1b2c3d4e\n", `greenlight reject shop-1.4.0-0a1b2c3d4e --reason "..."`,
				"counts as a rejection", console, testLinks.Approve, testLinks.Reject, "nothing happens until you press"},
			absent: []string{"HTTP 0"},
		}},
		{"approval-alb", AwaitingApproval(albDoc(), report(), expires, "eu-west-1", nil), want{
			kind: "approval", subject: "[greenlight] shop 1.4.0: approval needed",
			contains: []string{"shifts traffic to the candidate through the load balancer, 5, 25, 50, 100 %", "greenlight approve shop-1.4.0-0a1b2c3d4e"},
			absent:   []string{"Elastic IP"},
		}},
		{"rolled-back-alb", RolledBack(withFailure(albDoc(), "ShiftFailed", "alarm"), "ShiftFailed: alarm in ALARM: shop-5xx", nil, true), want{
			kind: "rolled-back", subject: "[greenlight] shop 1.4.0 rolled back",
			contains: []string{"the load balancer sends all of it to i-0live000000000001 again", "shop-5xx"},
			absent:   []string{"Elastic IP"},
		}},
		{"rollback-failed-alb", RollbackFailed(withFailure(albDoc(), "ShiftFailed", ""), "ShiftFailed: alarm", leftToDo), want{
			kind: "rollback-failed", subject: "[greenlight] URGENT shop 1.4.0: rollback failed", urgent: true,
			contains: []string{"Load balancer:", "shop-1234567890.eu-west-1.elb.amazonaws.com",
				"aws elbv2 describe-listeners --region eu-west-1 --listener-arns \\\n    arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2\n",
				"aws elbv2 describe-target-health --region eu-west-1 --target-group-arn \\\n    arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-green/2453ed029918f21f\n"},
			absent: []string{"describe-addresses"},
		}},
		{"approval-fleet", AwaitingApproval(fleetDoc(), fleetReport(), expires, "eu-west-1", nil), want{
			kind: "approval", subject: "[greenlight] shop 1.4.0: approval needed",
			contains: []string{"installed on 3 candidate instances", "Candidates:         3 instances\n",
				"i-0cand000000000004  eu-west-1b  10.0.2.40\n", "Live instances:     i-0live000000000001, i-0live000000000003, i-0live000000000005 (1.3.2)",
				"Smoke tests on 3 candidates, 1 of 3 failed:", "PASS  i-0cand000000000002  eu-west-1a  http://10.0.1.20:8080  2 of 2 checks passed",
				"FAIL  i-0cand000000000006  eu-west-1c  http://10.0.3.60:8080  1 of 2 checks passed\n        FAIL  home page                HTTP 500 in 12 ms\n",
				"status 500, want 200", "terminates the candidates"},
			absent: []string{"Candidate address", "PASS  health"},
		}},
		{"released-fleet", Released(approved(fleetDoc()), "", retire, 9*time.Minute, 0), want{
			kind: "released", subject: "[greenlight] shop 1.4.0 released",
			contains: []string{"Live instances:     i-0cand000000000002, i-0cand000000000004, i-0cand000000000006\n"},
		}},
		{"rolled-back-fleet", RolledBack(withFailure(fleetDoc(), "ShiftFailed", "alarm"), "ShiftFailed: alarm in ALARM: shop-5xx", nil, true), want{
			kind: "rolled-back", subject: "[greenlight] shop 1.4.0 rolled back",
			contains: []string{"sends all of it to the 3 live\ninstances again", "Live instances:     i-0live000000000001, i-0live000000000003, i-0live000000000005",
				"Candidates:         i-0cand000000000002, i-0cand000000000004, i-0cand000000000006 (terminated)"},
		}},
		{"rollback-failed-fleet", RollbackFailed(withFailure(fleetDoc(), "ShiftFailed", ""), "ShiftFailed: alarm", nil), want{
			kind: "rollback-failed", subject: "[greenlight] URGENT shop 1.4.0: rollback failed", urgent: true,
			contains: []string{"Candidates:         i-0cand000000000002, i-0cand000000000004, i-0cand000000000006\n"},
		}},
		{"started-fleet", Started(fleetDoc(), "eu-west-1"), want{
			kind: "started", subject: "[greenlight] shop 1.4.0: release started",
			contains: []string{"Live instances:     i-0live000000000001, i-0live000000000003, i-0live000000000005\n"},
		}},
		{"approval-no-checks", AwaitingApproval(doc(), nil, expires, "eu-west-1", nil), want{
			kind: "approval", subject: "[greenlight] shop 1.4.0: approval needed",
			contains: []string{"Smoke tests: none configured.", "greenlight approve shop-1.4.0-0a1b2c3d4e"},
		}},
		{"released", Released(approved(switched(doc())), "i-0live000000000001", retire, 9*time.Minute+12*time.Second, 0), want{
			kind: "released", subject: "[greenlight] shop 1.4.0 released",
			contains: []string{"shop 1.4.0 is live", "shop-1.4.0-0a1b2c3d4e", "Live instance:", "i-0cand000000000002", "i-0live000000000001 (1.3.2)",
				"Mon, 09 Mar 2026 10:15:00 UTC", "9m12s", "arn:aws:sts::123456789012:assumed-role/ops/alice", "checked the checkout page",
				"greenlight rollback", console},
			absent: []string{"Maintenance window"},
		}},
		{"released-maintenance", Released(doc(), "i-0live000000000001", retire, 10*time.Minute, 4200*time.Millisecond), want{
			kind: "released", subject: "[greenlight] shop 1.4.0 released",
			contains: []string{"Maintenance window: 4.2s"},
		}},
		{"rolled-back", RolledBack(withFailure(doc(), "DeployFailed", "exit 1"), "DeployFailed: the install hook exited 1", []string{"candidate i-0cand000000000002 terminated"}, false), want{
			kind: "rolled-back", subject: "[greenlight] shop 1.4.0 rolled back",
			contains: []string{"failed and was rolled back", "Users kept the live version throughout", "shop-1.4.0-0a1b2c3d4e", "i-0live000000000001",
				"i-0cand000000000002 (terminated)", "DeployFailed: the install hook exited 1", "candidate i-0cand000000000002 terminated", "greenlight status shop-1.4.0-0a1b2c3d4e", console},
		}},
		{"rolled-back-after-switch", RolledBack(withFailure(switched(doc()), "VerifyFailed", "round 2"), "VerifyFailed: after the switch, round 2: home page: HTTP 502", nil, true), want{
			kind: "rolled-back", subject: "[greenlight] shop 1.4.0 rolled back",
			contains: []string{"the Elastic IP was moved back to i-0live000000000001", "VerifyFailed"},
			absent:   []string{"Users kept the live version throughout"},
		}},
		{"rolled-back-rejected", RolledBack(withFailure(doc(), "Rejected", "rejected by alice (local): typo on the home page"), "Rejected: rejected by alice (local): typo on the home page", nil, false), want{
			kind: "rolled-back", subject: "[greenlight] shop 1.4.0 rolled back",
			contains: []string{"was rejected at the approval", "typo on the home page"},
		}},
		{"not-recorded", NotRecorded(switched(doc()), "released, but not recorded: the release lock (free it with: greenlight lock release --force) (dynamodb:DeleteItem lock shop: AccessDeniedException)"), want{
			kind: "not-recorded", subject: "[greenlight] URGENT shop 1.4.0 released but not recorded", urgent: true,
			contains: []string{"is live, but greenlight could not record all of it", "never moved back", "greenlight lock release --force", "AccessDeniedException"},
		}},
		{"rolled-back-timeout", RolledBack(withFailure(doc(), "States.Timeout", ""), "States.Timeout", nil, false), want{
			kind: "rolled-back", subject: "[greenlight] shop 1.4.0 rolled back",
			contains: []string{"Nobody answered the approval of shop 1.4.0 in time"},
		}},
		{"rollback-failed", RollbackFailed(withFailure(switched(doc()), "VerifyFailed", ""), "VerifyFailed: after the switch", leftToDo), want{
			kind: "rollback-failed", subject: "[greenlight] URGENT shop 1.4.0: rollback failed", urgent: true,
			contains: []string{"URGENT", "A person must look now", "shop-1.4.0-0a1b2c3d4e", "i-0live000000000001", "i-0cand000000000002",
				"eipalloc-0a1b2c3d4e5f60718 203.0.113.10", "Left to do by hand:", "- undo eip-moved eipalloc-0a1b2c3d4e5f60718 from i-0live000000000001 to",
				"- failed at eip-moved: AccessDenied", "aws ec2 describe-addresses --allocation-ids eipalloc-0a1b2c3d4e5f60718 --region eu-west-1",
				"greenlight status shop-1.4.0-0a1b2c3d4e", console},
		}},
		{"rollback-failed-early", RollbackFailed(release.Doc{ReleaseID: "shop-unknown-0a1b2c3d4e", App: "shop"}, "StepFailed: boom", nil), want{
			kind: "rollback-failed", subject: "[greenlight] URGENT shop (unknown version): rollback failed", urgent: true,
			contains: []string{"the rollback did not say"},
			absent:   []string{"describe-addresses", "Elastic IP:", "s3://"},
		}},
		{"stopped", Stopped(Release{App: "shop", ReleaseID: "shop-1.4.0-0a1b2c3d4e", Version: "1.4.0", Status: "AwaitingApproval",
			LiveInstance: "i-0live000000000001", CandidateInstance: "i-0cand000000000002"}, doc().Execution, "the execution was stopped (StopExecution)", true), want{
			kind: "stopped", subject: "[greenlight] URGENT shop 1.4.0: release stopped, nothing undone", urgent: true,
			contains: []string{"URGENT", "Nothing it did was undone", "AwaitingApproval", "i-0cand000000000002", "greenlight status shop-1.4.0-0a1b2c3d4e",
				"greenlight lock release --force", console},
		}},
		{"stopped-unknown", Stopped(Release{App: "shop", ReleaseID: "shop-1.4.0-0a1b2c3d4e"}, "", "the execution ran out of time", false), want{
			kind: "stopped", subject: "[greenlight] URGENT shop shop-1.4.0-0a1b2c3d4e: release stopped, nothing undone", urgent: true,
			contains: []string{"ran out of time"},
			absent:   []string{"lock release", "Candidate:"},
		}},
		{"rejected", Rejected(doc(), "ArtifactInvalid", "s3://greenlight-shop-releases/releases/shop-1.4.0.tar.gz: path \"../etc/passwd\" climbs out of the release directory"), want{
			kind: "rejected", subject: "[greenlight] shop 1.4.0 refused: ArtifactInvalid",
			contains: []string{"refused before anything was created", "not touched", "ArtifactInvalid", "climbs out", "greenlight release FILE", console},
		}},
		{"rejected-busy", Rejected(release.Doc{ReleaseID: "shop-1.5.0-0a1b2c3d4e", App: "shop", Version: "1.5.0"}, "ReleaseInProgress", "release shop-1.4.0-0a1b2c3d4e of shop is in progress"), want{
			kind: "rejected", subject: "[greenlight] shop 1.5.0 refused: ReleaseInProgress",
			contains: []string{"once the release in progress has ended", "shop-1.4.0-0a1b2c3d4e"},
			absent:   []string{"greenlight release FILE", "s3://"},
		}},
		{"retired", Retired("shop", "i-0live000000000001", "1.3.2", retire), want{
			kind: "retired", subject: "[greenlight] shop: instance i-0live000000000001 retired",
			contains: []string{"i-0live000000000001 (terminated)", "1.3.2", "Mon, 09 Mar 2026 10:15:00 UTC", "no longer possible"},
		}},
		{"retire-refused", RetireRefused("shop", "i-0cand000000000002", "it holds the Elastic IP eipalloc-0a1b2c3d4e5f60718: it is live"), want{
			kind: "retire-refused", subject: "[greenlight] shop: kept i-0cand000000000002 (not safe to retire)",
			contains: []string{"did NOT retire instance i-0cand000000000002 of shop", "holds the Elastic IP", "Nothing was changed", "terminate it by hand"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.msg
			if m.Kind != c.want.kind || m.Subject != c.want.subject || m.Urgent != c.want.urgent {
				t.Errorf("kind %q subject %q urgent %v, want %q %q %v", m.Kind, m.Subject, m.Urgent, c.want.kind, c.want.subject, c.want.urgent)
			}
			for _, s := range c.want.contains {
				if !strings.Contains(m.Body, s) {
					t.Errorf("the message lacks %q:\n%s", s, m.Body)
				}
			}
			for _, s := range c.want.absent {
				if strings.Contains(m.Body, s) {
					t.Errorf("the message has %q:\n%s", s, m.Body)
				}
			}
			readableAsPlainEmail(t, m)
			golden(t, c.name, "Subject: "+m.Subject+"\n\n"+m.Body)
		})
	}
}

// readableAsPlainEmail: no markup, no line a mail client must break
// (a URL alone on its line aside), no trailing spaces, no empty field.
func readableAsPlainEmail(t *testing.T, m Message) {
	t.Helper()
	if EmailSubject(m.Subject) != m.Subject {
		t.Errorf("subject %q is not a valid SNS email subject", m.Subject)
	}
	if !strings.HasSuffix(m.Body, "\n") || strings.HasSuffix(m.Body, "\n\n") {
		t.Error("the body does not end with exactly one newline")
	}
	for i, l := range strings.Split(strings.TrimSuffix(m.Body, "\n"), "\n") {
		word := !strings.Contains(strings.TrimSpace(l), " ")
		url := word && (strings.HasPrefix(strings.TrimSpace(l), "https://") || strings.HasPrefix(strings.TrimSpace(l), "arn:"))
		if len(l) > 100 && !url {
			t.Errorf("line %d is %d characters: %q", i+1, len(l), l)
		}
		if strings.TrimRight(l, " ") != l {
			t.Errorf("line %d has trailing spaces: %q", i+1, l)
		}
		for _, markup := range []string{"<", ">", "**", "`", "](", "# "} {
			if strings.Contains(l, markup) {
				t.Errorf("line %d has markup %q: %q", i+1, markup, l)
			}
		}
		if strings.HasSuffix(strings.TrimSpace(l), ":") && strings.HasPrefix(l, "  ") && !strings.Contains(l, "  - ") {
			t.Errorf("line %d is a field without a value: %q", i+1, l)
		}
		if strings.Contains(l, "()") || strings.Contains(l, "s3:///") || strings.Contains(l, "http://:") {
			t.Errorf("line %d shows a missing value: %q", i+1, l)
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/notify -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden message (go test ./internal/notify -update rewrites it)\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestEmailSubject(t *testing.T) {
	long := "[greenlight] shop " + strings.Repeat("9", 120) + " released"
	for _, c := range []struct{ in, want string }{
		{"[greenlight] shop 1.4.0 released", "[greenlight] shop 1.4.0 released"},
		{"[greenlight] shop 1.4.0-β released", "[greenlight] shop 1.4.0-? released"},
		{"[greenlight] shop a\nb", "[greenlight] shop a b"},
		{long, long[:96] + "..."},
		{strings.Repeat("x", 99), strings.Repeat("x", 99)},
		{strings.Repeat("x", 100), strings.Repeat("x", 96) + "..."},
	} {
		if got := EmailSubject(c.in); got != c.want {
			t.Errorf("EmailSubject(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestConsoleURL(t *testing.T) {
	if got := ConsoleURL("", execution); got != console {
		t.Errorf("region from the ARN: %s", got)
	}
	if got := ConsoleURL("eu-west-1", ""); got != "" {
		t.Errorf("no execution: %q", got)
	}
}

type fakeSNS struct{ in *sns.PublishInput }

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.in = in
	return &sns.PublishOutput{}, nil
}

func TestPublishCarriesKindAndUrgency(t *testing.T) {
	f := &fakeSNS{}
	m := RollbackFailed(doc(), "VerifyFailed", []string{"terminate i-0cand000000000002"})
	m.Subject += " " + strings.Repeat("!", 100)
	if err := (Publisher{SNS: f, Topic: "arn:aws:sns:eu-west-1:123456789012:greenlight-shop"}).Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(f.in.Subject); len(got) >= 100 {
		t.Errorf("subject is %d characters; SNS refuses 100 or more", len(got))
	}
	if k, u := aws.ToString(f.in.MessageAttributes["kind"].StringValue), aws.ToString(f.in.MessageAttributes["urgency"].StringValue); k != "rollback-failed" || u != "urgent" {
		t.Errorf("attributes kind %q urgency %q", k, u)
	}
	if aws.ToString(f.in.Message) != m.Body {
		t.Error("the body was changed")
	}
}

// testLinks are approval links as the approval step signs them.
var testLinks = &Links{
	Approve: "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/?action=approve&app=shop&exp=1767261600&release=r-20261126-0900&sig=Zm9vYmFy",
	Reject:  "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/?action=reject&app=shop&exp=1767261600&release=r-20261126-0900&sig=YmFyYmF6",
}
