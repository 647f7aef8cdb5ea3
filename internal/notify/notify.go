// Package notify words greenlight's notifications and publishes them to the
// stack's SNS topic. Each message is plain text that reads well as an email
// and carries everything needed to act on it.
package notify

import (
	"context"
	"fmt"
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
	Kind    string // started, approval, released, rolled-back, rollback-failed, rejected, retired, retire-refused
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
	subject := m.Subject
	if len(subject) > 100 { // SNS limit for email subjects
		subject = subject[:97] + "..."
	}
	urgency := "normal"
	if m.Urgent {
		urgency = "urgent"
	}
	_, err := p.SNS.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(p.Topic),
		Subject:  aws.String(subject),
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

// ConsoleURL links to an execution in the Step Functions console.
func ConsoleURL(region, executionARN string) string {
	if region == "" || executionARN == "" {
		return ""
	}
	return fmt.Sprintf("https://%s.console.aws.amazon.com/states/home?region=%s#/v2/executions/details/%s", region, region, executionARN)
}

type body struct{ strings.Builder }

func (b *body) line(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }

func (b *body) field(name, value string) {
	if value != "" {
		fmt.Fprintf(b, "  %-18s %s\n", name+":", value)
	}
}

func header(b *body, d release.Doc) {
	b.field("App", d.App)
	b.field("Version", d.Version)
	b.field("Release", d.ReleaseID)
	b.field("Artifact", fmt.Sprintf("s3://%s/%s", d.Artifact.Bucket, d.Artifact.Key))
}

// Started announces a release.
func Started(d release.Doc, region string) Message {
	var b body
	b.line("greenlight started releasing %s %s.", d.App, d.Version)
	b.line("")
	header(&b, d)
	b.field("Live instance", d.Live.InstanceID)
	b.field("Live version", d.Live.Version)
	b.field("Data mode", d.Config.Data.Mode)
	b.line("")
	b.line("You will be asked to approve before traffic moves.")
	if u := ConsoleURL(region, d.Execution); u != "" {
		b.line("Execution: %s", u)
	}
	b.line("Follow:    greenlight status %s --watch", d.ReleaseID)
	return Message{Kind: "started", Subject: fmt.Sprintf("[greenlight] %s %s: release started", d.App, d.Version), Body: b.String()}
}

// AwaitingApproval asks for a decision with everything needed to make it.
func AwaitingApproval(d release.Doc, report *release.Report, expires time.Time, region string) Message {
	var b body
	b.line("%s %s is installed on a candidate instance and waits for your approval.", d.App, d.Version)
	b.line("")
	header(&b, d)
	if d.Candidate != nil {
		b.field("Candidate", d.Candidate.InstanceID)
		addr := d.Candidate.PrivateIP
		if d.Candidate.PublicIP != "" {
			addr = d.Candidate.PublicIP + " (private " + d.Candidate.PrivateIP + ")"
		}
		b.field("Candidate address", addr)
		b.field("Try it", fmt.Sprintf("http://%s:%d%s", firstNonEmpty(d.Candidate.PublicIP, d.Candidate.PrivateIP), d.Config.HealthCheck.Port, d.Config.HealthCheck.Path))
	}
	b.field("Live instance", d.Live.InstanceID+" ("+firstNonEmpty(d.Live.Version, "version unknown")+")")
	b.field("Public address", d.Live.PublicIP)
	b.field("Decide before", expires.UTC().Format(time.RFC1123))
	b.line("")
	b.line("Smoke tests:")
	if report == nil || len(report.Checks) == 0 {
		b.line("  (none configured)")
	} else {
		for _, c := range report.Checks {
			mark := "PASS"
			if !c.Passed {
				mark = "FAIL"
			}
			b.line("  %s  %-20s HTTP %d in %d ms  %s", mark, c.Name, c.Status, c.LatencyMS, c.Problem)
		}
	}
	b.line("")
	b.line("To release it (moves the Elastic IP to the candidate):")
	b.line("  greenlight approve %s", d.ReleaseID)
	b.line("To stop it (terminates the candidate, nothing changes for users):")
	b.line("  greenlight reject %s --reason \"...\"", d.ReleaseID)
	b.line("")
	b.line("No answer by the deadline counts as a rejection.")
	if u := ConsoleURL(region, d.Execution); u != "" {
		b.line("Execution: %s", u)
	}
	return Message{Kind: "approval", Subject: fmt.Sprintf("[greenlight] %s %s: approval needed", d.App, d.Version), Body: b.String()}
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
		b.field("Live instance", d.Candidate.InstanceID)
	}
	b.field("Public address", d.Live.PublicIP)
	b.field("Previous instance", previous+" ("+firstNonEmpty(d.Live.Version, "previous version")+")")
	b.field("Kept until", retireAfter.UTC().Format(time.RFC1123))
	b.field("Lead time", leadTime.Round(time.Second).String())
	if maintenance > 0 {
		b.field("Maintenance window", maintenance.Round(100*time.Millisecond).String())
	}
	if d.Approval != nil {
		b.field("Approved by", d.Approval.By)
	}
	b.line("")
	b.line("To switch back to the previous instance until %s:", retireAfter.UTC().Format("2006-01-02 15:04 MST"))
	b.line("  greenlight rollback")
	return Message{Kind: "released", Subject: fmt.Sprintf("[greenlight] %s %s released", d.App, d.Version), Body: b.String()}
}

// RolledBack reports a failed release that left AWS clean.
func RolledBack(d release.Doc, reason string, undone []string) Message {
	var b body
	b.line("The release of %s %s failed and was rolled back. Users kept the live version throughout.", d.App, d.Version)
	b.line("")
	header(&b, d)
	b.field("Live instance", d.Live.InstanceID)
	b.field("Reason", reason)
	if len(undone) > 0 {
		b.line("")
		b.line("Undone, newest first:")
		for _, u := range undone {
			b.line("  - %s", u)
		}
	}
	b.line("")
	b.line("Snapshots taken during the release are kept as backups.")
	return Message{Kind: "rolled-back", Subject: fmt.Sprintf("[greenlight] %s %s rolled back", d.App, d.Version), Body: b.String()}
}

// RollbackFailed is urgent: a human must finish the cleanup.
func RollbackFailed(d release.Doc, reason string, left []string) Message {
	var b body
	b.line("URGENT: the release of %s %s failed AND its rollback could not finish.", d.App, d.Version)
	b.line("A person must look now.")
	b.line("")
	header(&b, d)
	b.field("Live instance", d.Live.InstanceID)
	b.field("Elastic IP", d.Live.AllocationID+" ("+d.Live.PublicIP+")")
	b.field("Failure", reason)
	b.line("")
	b.line("Left to do by hand:")
	for _, l := range left {
		b.line("  - %s", l)
	}
	b.line("")
	b.line("The release lock was released. Check which instance holds the Elastic IP first:")
	b.line("  aws ec2 describe-addresses --allocation-ids %s", d.Live.AllocationID)
	return Message{Kind: "rollback-failed", Subject: fmt.Sprintf("[greenlight] URGENT %s %s: rollback failed", d.App, d.Version), Body: b.String(), Urgent: true}
}

// Rejected reports a release refused before anything was created.
func Rejected(d release.Doc, errName, reason string) Message {
	var b body
	b.line("The release of %s %s was refused before anything was created.", d.App, firstNonEmpty(d.Version, "(unknown version)"))
	b.line("")
	header(&b, d)
	b.field("Error", errName)
	b.field("Reason", reason)
	return Message{Kind: "rejected", Subject: fmt.Sprintf("[greenlight] %s %s rejected: %s", d.App, d.Version, errName), Body: b.String()}
}

// Retired reports an old instance terminated after its retention.
func Retired(app, instanceID, version string, due time.Time) Message {
	var b body
	b.line("The previous instance of %s was retired after its retention period.", app)
	b.line("")
	b.field("App", app)
	b.field("Instance", instanceID)
	b.field("Version", version)
	if !due.IsZero() {
		b.field("Retire after", due.UTC().Format(time.RFC1123))
	}
	b.line("")
	b.line("Rolling back to it is no longer possible.")
	return Message{Kind: "retired", Subject: fmt.Sprintf("[greenlight] %s: instance %s retired", app, instanceID), Body: b.String()}
}

// RetireRefused reports an instance that was due but must not be retired.
func RetireRefused(app, instanceID, why string) Message {
	var b body
	b.line("greenlight did NOT retire instance %s of %s although it was due:", instanceID, app)
	b.line("  %s", why)
	b.line("")
	b.line("Nothing was changed. If the instance should go, check it and terminate it by hand.")
	return Message{Kind: "retire-refused", Subject: fmt.Sprintf("[greenlight] %s: kept %s (not safe to retire)", app, instanceID), Body: b.String()}
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
		b.field("To", d.Candidate.InstanceID+" ("+d.Version+")")
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
