// Package notify words greenlight's notifications and publishes them to the
// stack's SNS topic. Each message is plain text that reads well as an email
// and carries everything needed to act on it.
package notify

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/release"
)

// Message is one notification.
type Message struct {
	Kind    string // started, approval, released, rolled-back, rollback-failed, rejected, stopped, retired, retire-refused
	Subject string
	Body    string
	Urgent  bool
}

// Publisher sends messages to the topic.
type Publisher struct {
	SNS   awsapi.SNS
	Topic string
}

// Publish sends m. The kind and urgency travel as message attributes so
// chat integrations and filters can route on them.
func (p Publisher) Publish(ctx context.Context, m Message) error {
	urgency := "normal"
	if m.Urgent {
		urgency = "urgent"
	}
	_, err := p.SNS.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(p.Topic),
		Subject:  aws.String(EmailSubject(m.Subject)),
		Message:  aws.String(m.Body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"kind":    {DataType: aws.String("String"), StringValue: aws.String(m.Kind)},
			"urgency": {DataType: aws.String("String"), StringValue: aws.String(urgency)},
		},
	})
	if err != nil {
		return fmt.Errorf("publish %s notification to %s: %w", m.Kind, p.Topic, err)
	}
	return nil
}

// EmailSubject fits a subject to SNS's rules for email subjects: ASCII
// without control characters, fewer than 100 characters. SNS refuses the
// whole Publish otherwise, and the notification would be lost.
func EmailSubject(s string) string {
	b := []byte{}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b = append(b, ' ')
		case r < 0x20 || r > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, byte(r))
		}
	}
	if len(b) > maxSubject {
		b = append(b[:maxSubject-3], "..."...)
	}
	return string(b)
}

const maxSubject = 99

// ConsoleURL links to an execution in the Step Functions console. Without
// a region it takes the execution ARN's own.
func ConsoleURL(region, executionARN string) string {
	if executionARN == "" {
		return ""
	}
	if region == "" {
		// arn:partition:states:region:account:execution:machine:name
		if parts := strings.Split(executionARN, ":"); len(parts) > 3 {
			region = parts[3]
		}
	}
	if region == "" {
		return ""
	}
	return fmt.Sprintf("https://%s.console.aws.amazon.com/states/home?region=%s#/v2/executions/details/%s", region, region, executionARN)
}

// width is the longest line a message writes, URLs aside: plain-text mail
// clients wrap longer ones where they like.
const width = 96

type body struct{ strings.Builder }

func (b *body) line(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }

// text is the finished body: no blank lines at the end.
func (b *body) text() string { return strings.TrimRight(b.String(), "\n") + "\n" }

// para writes free text (a reason, an error) wrapped at width, every line
// after the first indented like the first.
func (b *body) para(indent, text string) {
	for _, l := range wrap(text, width-len(indent)) {
		b.line("%s%s", indent, l)
	}
}

func (b *body) field(name, value string) {
	if value == "" {
		return
	}
	label := fmt.Sprintf("  %-19s ", name+":")
	lines := wrap(value, width-len(label))
	b.line("%s%s", label, lines[0])
	for _, l := range lines[1:] {
		b.line("%s%s", strings.Repeat(" ", len(label)), l)
	}
}

// link writes a URL on a line of its own, so no client breaks it.
func (b *body) link(label, url string) {
	if url == "" {
		return
	}
	b.line("%s", label)
	b.line("  %s", url)
}

// wrap breaks text into lines of at most n characters at spaces; a word
// longer than n (an ARN, a URL) stays whole on its own line.
func wrap(text string, n int) []string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			switch {
			case line == "":
				line = w
			case len(line)+1+len(w) <= n:
				line += " " + w
			default:
				out = append(out, line)
				line = w
			}
		}
		out = append(out, line)
	}
	return out
}

func header(b *body, d release.Doc) {
	b.field("App", d.App)
	b.field("Version", d.Version)
	b.field("Release", d.ReleaseID)
	if d.Artifact.Bucket != "" && d.Artifact.Key != "" {
		b.field("Artifact", fmt.Sprintf("s3://%s/%s", d.Artifact.Bucket, d.Artifact.Key))
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC1123)
}

func version(d release.Doc) string { return firstNonEmpty(d.Version, "(unknown version)") }

// Started announces a release.
func Started(d release.Doc, region string) Message {
	var b body
	b.line("greenlight started releasing %s %s.", d.App, d.Version)
	b.line("")
	header(&b, d)
	liveField(&b, d.Live, "")
	b.field("Live version", d.Live.Version)
	b.field("Data mode", d.Config.Data.Mode)
	b.line("")
	b.line("You will be asked to approve before traffic moves. To follow it:")
	b.line("  greenlight status %s --watch", d.ReleaseID)
	b.line("")
	b.link("Execution in the Step Functions console:", ConsoleURL(region, d.Execution))
	return Message{Kind: "started", Subject: fmt.Sprintf("[greenlight] %s %s: release started", d.App, d.Version), Body: b.text()}
}

// Links are an approval's signed approve and reject links
// (approval.links in the config).
type Links struct {
	Approve string `json:"approve"`
	Reject  string `json:"reject"`
}

// AwaitingApproval asks for a decision with everything needed to make it.
// A candidate fleet is listed instance by instance, with its smoke tests
// summed up per instance.
func AwaitingApproval(d release.Doc, report *release.Report, expires time.Time, region string, links *Links) Message {
	var b body
	fleet := d.Candidate != nil && len(d.Candidate.Instances) > 1
	if fleet {
		b.line("%s %s is installed on %d candidate instances and waits for your approval.", d.App, d.Version, len(d.Candidate.Instances))
	} else {
		b.line("%s %s is installed on a candidate instance and waits for your approval.", d.App, d.Version)
	}
	b.line("")
	header(&b, d)
	switch {
	case fleet:
		candidateFleet(&b, d.Candidate.Instances)
		first := d.Candidate.First()
		if ip := firstNonEmpty(first.PublicIP, first.PrivateIP); ip != "" {
			b.field("Try it", fmt.Sprintf("http://%s:%d%s", ip, d.Config.HealthCheck.Port, d.Config.HealthCheck.Path))
		}
	case d.Candidate != nil:
		b.field("Candidate", d.Candidate.First().InstanceID)
		b.field("Candidate address", address(d.Candidate.First()))
		if ip := firstNonEmpty(d.Candidate.First().PublicIP, d.Candidate.First().PrivateIP); ip != "" {
			b.field("Try it", fmt.Sprintf("http://%s:%d%s", ip, d.Config.HealthCheck.Port, d.Config.HealthCheck.Path))
		}
	}
	liveField(&b, d.Live, firstNonEmpty(d.Live.Version, "version unknown"))
	b.field("Public address", d.Live.PublicIP)
	b.field("Decide before", stamp(expires))
	b.line("")
	switch {
	case report != nil && len(report.Instances) > 0:
		fleetSmoke(&b, report)
	case report == nil || len(report.Checks) == 0:
		b.line("Smoke tests: none configured.")
	default:
		b.line("Smoke tests against %s:", report.Target)
		checks(&b, "  ", report.Checks)
	}
	b.line("")
	if links != nil {
		b.para("", "Answer from here: each link opens a page showing this release; nothing happens until you press its button. Each link works once, until the deadline.")
		b.link("Approve:", links.Approve)
		b.link("Reject:", links.Reject)
		b.line("")
		b.line("Or from a terminal with AWS credentials:")
	}
	switch {
	case d.Config.UsesALB() && fleet:
		b.line("To release it (shifts traffic to the candidates through the load balancer, %s %%):", steps(d.Config.TrafficSteps()))
	case d.Config.UsesALB():
		b.line("To release it (shifts traffic to the candidate through the load balancer, %s %%):", steps(d.Config.TrafficSteps()))
	default:
		b.line("To release it (moves the Elastic IP to the candidate):")
	}
	b.line("  greenlight approve %s", d.ReleaseID)
	if fleet {
		b.line("To stop it (terminates the candidates, nothing changes for users):")
	} else {
		b.line("To stop it (terminates the candidate, nothing changes for users):")
	}
	b.line("  greenlight reject %s --reason \"...\"", d.ReleaseID)
	b.line("")
	b.line("No answer by the deadline counts as a rejection.")
	b.line("")
	b.link("Execution in the Step Functions console:", ConsoleURL(region, d.Execution))
	return Message{Kind: "approval", Subject: fmt.Sprintf("[greenlight] %s %s: approval needed", d.App, d.Version), Body: b.text()}
}

// checks lists a report's checks, each at indent, a failed one's problem
// under it.
func checks(b *body, indent string, list []release.CheckResult) {
	for _, c := range list {
		mark, got := "PASS", fmt.Sprintf("HTTP %d in %d ms", c.Status, c.LatencyMS)
		if !c.Passed {
			mark = "FAIL"
		}
		if c.Status == 0 {
			got = "no response"
		}
		b.line("%s%s  %-24s %s", indent, mark, c.Name, got)
		if c.Problem != "" {
			b.para(indent+"      ", c.Problem)
		}
	}
}

// candidateFleet lists a fleet's candidates, one a line: id, zone and
// address.
func candidateFleet(b *body, side []release.Member) {
	b.field("Candidates", fmt.Sprintf("%d instances", len(side)))
	indent := strings.Repeat(" ", len(fmt.Sprintf("  %-19s ", "x:")))
	for _, m := range side {
		b.line("%s%s", indent, strings.Join(nonEmpty(m.InstanceID, m.AZ, address(m)), "  "))
	}
}

// fleetSmoke sums a fleet's smoke tests up: a line for each instance,
// and under it the checks it failed.
func fleetSmoke(b *body, r *release.Report) {
	failed := 0
	for _, ir := range r.Instances {
		if !ir.Passed {
			failed++
		}
	}
	verdict := "all passed"
	if failed > 0 {
		verdict = fmt.Sprintf("%d of %d failed", failed, len(r.Instances))
	}
	b.line("Smoke tests on %d candidates, %s:", len(r.Instances), verdict)
	for _, ir := range r.Instances {
		passed := 0
		for _, c := range ir.Checks {
			if c.Passed {
				passed++
			}
		}
		mark := "PASS"
		if !ir.Passed {
			mark = "FAIL"
		}
		b.line("  %s  %s", mark, strings.Join(nonEmpty(ir.InstanceID, ir.AZ, ir.Target, fmt.Sprintf("%d of %d checks passed", passed, len(ir.Checks))), "  "))
		var bad []release.CheckResult
		for _, c := range ir.Checks {
			if !c.Passed {
				bad = append(bad, c)
			}
		}
		checks(b, "        ", bad)
	}
}

// liveField is the live side: its instance, or a fleet's instances,
// with the version they run when one is given.
func liveField(b *body, l release.Live, version string) {
	label, value := "Live instance", l.InstanceID
	if ids := l.IDs(); len(ids) > 1 {
		label, value = "Live instances", strings.Join(ids, ", ")
	}
	if version != "" {
		value += " (" + version + ")"
	}
	b.field(label, value)
}

// address is a candidate's address as a person would try it: public
// first, with the private one.
func address(m release.Member) string {
	if m.PublicIP == "" {
		return m.PrivateIP
	}
	return m.PublicIP + " (private " + m.PrivateIP + ")"
}

// candidateField names the candidate side: its instance, or a fleet's
// instances, with a note.
func candidateField(b *body, singular, plural string, c *release.Candidate, note string) {
	ids := c.IDs()
	value := strings.Join(ids, ", ")
	if note != "" {
		value += " (" + note + ")"
	}
	if len(ids) > 1 {
		b.field(plural, value)
		return
	}
	b.field(singular, value)
}

func nonEmpty(vs ...string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Released reports success.
func Released(d release.Doc, previous string, retireAfter time.Time, leadTime, maintenance time.Duration) Message {
	var b body
	if d.IsRollback() {
		b.line("%s is switched back: %s is live again on the instance kept from the previous release.", d.App, d.Version)
	} else {
		b.line("%s %s is live.", d.App, d.Version)
	}
	b.line("")
	header(&b, d)
	if d.Candidate != nil {
		candidateField(&b, "Live instance", "Live instances", d.Candidate, "")
	}
	b.field("Public address", d.Live.PublicIP)
	if previous != "" {
		b.field("Previous instance", previous+" ("+firstNonEmpty(d.Live.Version, "previous version")+")")
	}
	b.field("Kept until", stamp(retireAfter))
	b.field("Lead time", leadTime.Round(time.Second).String())
	if maintenance > 0 {
		b.field("Maintenance window", maintenance.Round(100*time.Millisecond).String())
	}
	if d.Approval != nil {
		b.field("Approved by", d.Approval.By)
		b.field("Approval note", d.Approval.Reason)
	}
	if previous != "" && !retireAfter.IsZero() {
		b.line("")
		b.line("To switch back to the previous instance (possible until %s):", retireAfter.UTC().Format("2006-01-02 15:04 MST"))
		b.line("  greenlight rollback")
	}
	b.line("")
	b.link("Execution in the Step Functions console:", ConsoleURL("", d.Execution))
	return Message{Kind: "released", Subject: fmt.Sprintf("[greenlight] %s %s released", d.App, d.Version), Body: b.text()}
}

// RolledBack reports a failed release that left AWS clean.
func RolledBack(d release.Doc, reason string, undone []string, trafficBack bool) Message {
	var b body
	switch failure(d) {
	case "Rejected":
		b.line("The release of %s %s was rejected at the approval and rolled back.", d.App, version(d))
	case "States.Timeout":
		b.line("Nobody answered the approval of %s %s in time; the release was rolled back.", d.App, version(d))
	default:
		b.line("The release of %s %s failed and was rolled back.", d.App, version(d))
	}
	switch {
	case trafficBack && d.Config.UsesALB() && len(d.Live.IDs()) > 1:
		b.line("Traffic had moved to the candidates; the load balancer sends all of it to the %d live", len(d.Live.IDs()))
		b.line("instances again.")
	case trafficBack && d.Config.UsesALB():
		b.line("Traffic had moved to the candidate; the load balancer sends all of it to %s again.", d.Live.InstanceID)
	case trafficBack:
		b.line("Traffic had moved to the candidate; the Elastic IP was moved back to %s.", d.Live.InstanceID)
	default:
		b.line("Users kept the live version throughout.")
	}
	b.line("")
	header(&b, d)
	liveField(&b, d.Live, "")
	if d.Candidate != nil && !d.IsRollback() {
		candidateField(&b, "Candidate", "Candidates", d.Candidate, "terminated")
	}
	b.field("Reason", reason)
	if len(undone) > 0 {
		b.line("")
		b.line("Undone, in order:")
		for _, u := range undone {
			b.para("  - ", u)
		}
	}
	b.line("")
	b.line("Snapshots taken during the release are kept as backups.")
	b.line("To see the whole timeline:")
	b.line("  greenlight status %s", d.ReleaseID)
	b.line("")
	b.link("Execution in the Step Functions console:", ConsoleURL("", d.Execution))
	return Message{Kind: "rolled-back", Subject: fmt.Sprintf("[greenlight] %s %s rolled back", d.App, version(d)), Body: b.text()}
}

func failure(d release.Doc) string {
	if d.Failure == nil {
		return ""
	}
	return d.Failure.Error
}

// RollbackFailed is urgent: a human must finish the cleanup.
func RollbackFailed(d release.Doc, reason string, left []string) Message {
	var b body
	b.line("URGENT: the release of %s %s failed AND its rollback could not finish.", d.App, version(d))
	b.line("A person must look now.")
	b.line("")
	header(&b, d)
	liveField(&b, d.Live, "")
	if d.Candidate != nil {
		candidateField(&b, "Candidate", "Candidates", d.Candidate, "")
	}
	if d.Live.AllocationID != "" {
		b.field("Elastic IP", strings.TrimSpace(d.Live.AllocationID+" "+d.Live.PublicIP))
	}
	if alb := d.Config.Traffic.ALB; d.Config.UsesALB() && alb != nil {
		b.field("Load balancer", d.Live.PublicIP)
	}
	b.field("Failure", reason)
	b.line("")
	b.line("Left to do by hand:")
	if len(left) == 0 {
		b.line("  (the rollback did not say; read the execution's history)")
	}
	for _, l := range left {
		b.para("  - ", l)
	}
	b.line("")
	b.line("The release lock was released, so the next upload starts a release: hold uploads")
	b.line("until this is cleaned up.")
	b.line("")
	region := ""
	if parts := strings.Split(d.Execution, ":"); len(parts) > 3 {
		region = " --region " + parts[3]
	}
	if d.Live.AllocationID != "" {
		b.line("First check which instance holds the Elastic IP:")
		b.line("  aws ec2 describe-addresses --allocation-ids %s%s", d.Live.AllocationID, region)
	}
	if alb := d.Config.Traffic.ALB; d.Config.UsesALB() && alb != nil {
		b.line("First check where the load balancer sends traffic, and what each target group holds:")
		// An ARN is longer than a mail line: it goes alone on the next.
		if alb.RuleARN != "" {
			b.line("  aws elbv2 describe-rules%s --rule-arns \\", region)
			b.line("    %s", alb.RuleARN)
		} else {
			b.line("  aws elbv2 describe-listeners%s --listener-arns \\", region)
			b.line("    %s", alb.ListenerARN)
		}
		for _, g := range alb.TargetGroupARNs {
			b.line("  aws elbv2 describe-target-health%s --target-group-arn \\", region)
			b.line("    %s", g)
		}
	}
	b.line("The release's timeline, with every step it took:")
	b.line("  greenlight status %s", d.ReleaseID)
	b.line("")
	b.link("Execution in the Step Functions console:", ConsoleURL("", d.Execution))
	return Message{Kind: "rollback-failed", Subject: fmt.Sprintf("[greenlight] URGENT %s %s: rollback failed", d.App, version(d)), Body: b.text(), Urgent: true}
}

// Stopped reports a release whose execution ended outside the workflow's
// NotRecorded is the urgent notice for a release that stands (its new
// side serves and was verified) while part of its bookkeeping failed: the
// workflow never moves traffic back for that, so a person fixes the
// record instead.
func NotRecorded(d release.Doc, problem string) Message {
	var b body
	b.line("URGENT: %s %s is live, but greenlight could not record all of it.", d.App, version(d))
	b.line("The release stands: traffic is never moved back for bookkeeping.")
	b.line("")
	header(&b, d)
	if d.Candidate != nil {
		candidateField(&b, "Live instance", "Live instances", d.Candidate, "")
	}
	if ids := d.Live.IDs(); len(ids) > 1 {
		b.field("Previous instances", strings.Join(ids, ", "))
	} else {
		b.field("Previous instance", d.Live.InstanceID)
	}
	b.line("")
	b.line("Not recorded:")
	b.para("  ", problem)
	b.line("")
	b.line("What to check: the release's timeline,")
	b.line("  greenlight status %s", d.ReleaseID)
	b.line("If the lock is still held, free it with")
	b.line("  greenlight lock release --force")
	b.line("The live instance should carry greenlight:role=live, the previous one a")
	b.line("greenlight:retire-after date and a retirement schedule.")
	b.line("")
	b.link("Execution in the Step Functions console:", ConsoleURL("", d.Execution))
	return Message{Kind: "not-recorded", Subject: fmt.Sprintf("[greenlight] URGENT %s %s released but not recorded", d.App, version(d)),
		Body: b.text(), Urgent: true}
}

// outcomes: nothing was undone, so a person must look.
func Stopped(rec Release, execution, why string, lockHeld bool) Message {
	var b body
	b.line("URGENT: the release %s of %s stopped before it ended.", rec.ReleaseID, rec.App)
	b.line("Nothing it did was undone: a person must look now.")
	b.line("")
	b.field("App", rec.App)
	b.field("Version", rec.Version)
	b.field("Release", rec.ReleaseID)
	b.field("Last status", rec.Status)
	b.field("Live instance", rec.LiveInstance)
	b.field("Candidate", rec.CandidateInstance)
	b.field("Why", why)
	b.line("")
	b.line("What it may have left: a running candidate instance, the maintenance page on the")
	b.line("live site, data volumes moved or stopped writes (with a data volume), traffic on the")
	b.line("candidate (the Elastic IP moved, or the load balancer's weights). The release's")
	b.line("timeline says how far it got:")
	b.line("  greenlight status %s", rec.ReleaseID)
	b.line("")
	if lockHeld {
		b.line("It still holds the release lock, so no other release can start. Once the")
		b.line("instances, volumes and traffic are as they should be:")
		b.line("  greenlight lock release --force")
		b.line("")
	}
	b.link("Execution in the Step Functions console:", ConsoleURL("", execution))
	return Message{Kind: "stopped", Subject: fmt.Sprintf("[greenlight] URGENT %s %s: release stopped, nothing undone", rec.App, firstNonEmpty(rec.Version, rec.ReleaseID)),
		Body: b.text(), Urgent: true}
}

// Release is what a stopped release's message says of it: the ledger's
// record, or as much as the execution's name tells.
type Release struct {
	App, ReleaseID, Version, Status, LiveInstance, CandidateInstance string
}

// Rejected reports a release refused before anything was created.
func Rejected(d release.Doc, errName, reason string) Message {
	var b body
	b.line("The release of %s %s was refused before anything was created.", d.App, version(d))
	b.line("The live instance was not touched.")
	b.line("")
	header(&b, d)
	b.field("Error", errName)
	b.field("Reason", reason)
	b.line("")
	if errName == release.Name(release.ReleaseInProgress{}) {
		b.line("Upload the artifact again once the release in progress has ended.")
	} else {
		b.line("Fix the cause, then upload again:")
		b.line("  greenlight release FILE")
	}
	b.line("")
	b.link("Execution in the Step Functions console:", ConsoleURL("", d.Execution))
	return Message{Kind: "rejected", Subject: fmt.Sprintf("[greenlight] %s %s refused: %s", d.App, version(d), errName), Body: b.text()}
}

// Retired reports an old instance terminated after its retention.
func Retired(app, instanceID, version string, due time.Time) Message {
	var b body
	b.line("The previous instance of %s was retired after its retention period.", app)
	b.line("")
	b.field("App", app)
	b.field("Instance", instanceID+" (terminated)")
	b.field("Version", version)
	b.field("Retire after", stamp(due))
	b.line("")
	b.line("Rolling back to it is no longer possible.")
	return Message{Kind: "retired", Subject: fmt.Sprintf("[greenlight] %s: instance %s retired", app, instanceID), Body: b.text()}
}

// RetireRefused reports an instance that was due but must not be retired.
func RetireRefused(app, instanceID, why string) Message {
	var b body
	b.line("greenlight did NOT retire instance %s of %s although it was due:", instanceID, app)
	b.para("  ", why)
	b.line("")
	b.line("Nothing was changed. If the instance should go, check it and terminate it by hand.")
	return Message{Kind: "retire-refused", Subject: fmt.Sprintf("[greenlight] %s: kept %s (not safe to retire)", app, instanceID), Body: b.text()}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// RollbackStarted announces a switch back to the previous instance.
func RollbackStarted(d release.Doc, by, reason, region string) Message {
	var b body
	b.line("greenlight is switching %s back to %s, on the instance kept from the previous release.", d.App, d.Version)
	b.line("")
	b.field("App", d.App)
	b.field("Rollback", d.ReleaseID)
	b.field("Requested by", by)
	b.field("Reason", reason)
	b.field("From", d.Live.InstanceID+" ("+firstNonEmpty(d.Live.Version, "current version")+")")
	if d.Candidate != nil {
		candidateField(&b, "To", "To", d.Candidate, d.Version)
	}
	if d.Config.HasData() {
		b.field("Data", "moves back under a maintenance page ("+d.Config.Data.Mode+" mode)")
	}
	if u := ConsoleURL(region, d.Execution); u != "" {
		b.line("")
		b.line("Execution: %s", u)
	}
	b.line("Follow:    greenlight status %s --watch", d.ReleaseID)
	return Message{Kind: "rollback-started", Subject: fmt.Sprintf("[greenlight] %s: switching back to %s", d.App, d.Version), Body: b.String()}
}

// steps writes traffic steps as "5, 25, 50, 100".
func steps(weights []int) string {
	parts := make([]string, len(weights))
	for i, w := range weights {
		parts[i] = strconv.Itoa(w)
	}
	return strings.Join(parts, ", ")
}
