// Package deploy installs the release on the candidate through the deploy
// SSM document and follows the command to its end.
package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight/greenlight/instance"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Polling: the agent picks a command up within a second or two and a
// deploy downloads, unpacks, restarts and waits for health, so the first
// look comes after 10 s; then a check polls within its invocation every
// 2 s (step.Poll) until the command ends or the budget is spent, and the
// state machine waits WaitBetween before the next.
const (
	FirstCheck  = 10 * time.Second
	CheckEvery  = 2 * time.Second
	WaitBetween = 5 * time.Second
	// slack is how long past the app's own health timeout a deploy may
	// take (download, unpack, hooks) before it counts as hung.
	slack = 10 * time.Minute
)

// Handler sends and follows deploy commands.
type Handler struct{ D *step.Deps }

// Send runs the deploy document on the candidate. The script is idempotent
// for a release id, so a retried send at worst repeats a no-op.
func (h Handler) Send(ctx context.Context, d release.Doc) (release.Deploy, error) {
	cfg := d.Config
	a := d.Artifact
	params := map[string][]string{
		instance.ParamApp:           {d.App},
		instance.ParamReleaseID:     {d.ReleaseID},
		instance.ParamVersion:       {d.Version},
		instance.ParamBucket:        {a.Bucket},
		instance.ParamKey:           {a.Key},
		instance.ParamVersionID:     {a.VersionID},
		instance.ParamSha256:        {a.SHA256},
		instance.ParamHealthPort:    {strconv.Itoa(cfg.HealthCheck.Port)},
		instance.ParamHealthPath:    {cfg.HealthCheck.Path},
		instance.ParamHealthStatus:  {strconv.Itoa(cfg.HealthCheck.ExpectedStatus)},
		instance.ParamHealthTimeout: {strconv.Itoa(cfg.HealthCheck.Timeout.Seconds())},
		instance.ParamKeepReleases:  {strconv.Itoa(cfg.KeepReleases)},
		instance.ParamMaxSizeMiB:    {strconv.Itoa(cfg.ArtifactMaxSize)},
		instance.ParamRegion:        {h.D.Env.Region},
	}
	ids := d.Candidate.IDs()
	// One command reaches the whole side: InstanceIds takes up to 50 ids
	// (fleet.size is at most 20); MaxConcurrency "100%" runs it on all at
	// once, and MaxErrors "0" stops SendCommand from sending it to any
	// target not yet reached once one fails ("SendCommand", Systems
	// Manager API Reference; the same text in the SDK's
	// SendCommandRequest: docs.aws.amazon.com/sdk-for-kotlin/api/latest/
	// ssm/aws.sdk.kotlin.services.ssm.model/-send-command-request/).
	out, err := h.D.AWS.SSM.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName:   aws.String(h.D.Env.DeployDocument),
		InstanceIds:    ids,
		Parameters:     params,
		Comment:        aws.String(release.CommandComment(d.ReleaseID, "deploy")),
		TimeoutSeconds: aws.Int32(600),
		MaxConcurrency: aws.String("100%"),
		MaxErrors:      aws.String("0"),
	})
	side := strings.Join(ids, ", ")
	if err != nil {
		return release.Deploy{}, step.AWS("ssm:SendCommand", side, err)
	}
	cmd := aws.ToString(out.Command.CommandId)
	now := h.D.Now().UTC()
	h.D.Did(ctx, d.ReleaseID, "ssm:SendCommand", "document", h.D.Env.DeployDocument, "instance", side, "command", cmd)
	err = h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Event: &ledger.Event{At: now, Step: release.StateDeployRelease, Detail: fmt.Sprintf("deploying %s on %s (command %s)", d.Version, side, cmd)},
	})
	if err != nil {
		return release.Deploy{}, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	dep := release.Deploy{CommandID: cmd, SentAt: now, Poll: release.Poll{WaitSeconds: int(FirstCheck / time.Second)}, Status: pending}
	for _, id := range ids {
		dep.Instances = append(dep.Instances, release.DeployOutcome{InstanceID: id, Status: pending})
	}
	return dep, nil
}

// pending is an invocation's status before SSM knows of it.
const pending = string(ssmtypes.CommandInvocationStatusPending)

// Check follows the command's invocations until every one ends (or the
// budget is spent). A check repeated after it recorded the install (its
// answer lost) finds the event in the ledger and does not add it again.
func (h Handler) Check(ctx context.Context, d release.Doc) (release.Deploy, error) {
	rec, err := h.D.Current(ctx, d)
	if err != nil {
		return *d.Deploy, err
	}
	return step.PollPasses(ctx, h.D, *d.Deploy, func(ctx context.Context, dep release.Deploy) (release.Deploy, bool, time.Duration, error) {
		dep, err := h.checkOnce(ctx, d, dep, rec)
		return dep, dep.Ready, CheckEvery, err
	})
}

// checkOnce reads, once, the invocation on every instance whose command
// has not ended yet. The deploy fails as soon as one has failed (the
// side is then not the release); it is ready when all succeeded.
func (h Handler) checkOnce(ctx context.Context, d release.Doc, dep release.Deploy, rec ledger.Record) (release.Deploy, error) {
	dep.Checks++
	dep.WaitSeconds = int(WaitBetween / time.Second)
	dep.Instances = outcomes(d.Candidate.IDs(), dep.Instances)
	for i := range dep.Instances {
		o := &dep.Instances[i]
		if ended(o.Status) {
			continue
		}
		inv, err := h.D.AWS.SSM.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(dep.CommandID), InstanceId: aws.String(o.InstanceID)})
		switch {
		case step.ErrorCode(err) == "InvocationDoesNotExist":
			// Just sent: SSM has not registered the invocation yet.
			o.Status = pending
		case err != nil:
			return dep, step.AWS("ssm:GetCommandInvocation", dep.CommandID, err)
		default:
			o.Status = string(inv.Status)
			if ended(o.Status) {
				o.ExitCode = int(inv.ResponseCode)
				o.LastLine = instance.LastLine(aws.ToString(inv.StandardOutputContent))
				if o.LastLine == "" && inv.Status != ssmtypes.CommandInvocationStatusSuccess {
					o.LastLine = instance.LastLine(aws.ToString(inv.StandardErrorContent))
				}
			}
		}
	}
	failed, waiting := sortOut(dep.Instances)
	dep.Status, dep.LastLine = summary(dep.Instances, failed, waiting)
	fleet := len(dep.Instances) > 1
	switch {
	case len(failed) > 0:
		return dep, release.DeployFailed{Cause: failure(dep.Instances, failed)}
	case len(waiting) == 0:
		dep.Ready = true
		detail := installed(d, dep.Instances)
		if rec.Recorded(release.StateCheckDeploy, detail) {
			return dep, nil
		}
		err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
			Event: &ledger.Event{Step: release.StateCheckDeploy, Detail: detail},
		})
		if err != nil {
			return dep, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
		}
		return dep, nil
	}
	deadline := dep.SentAt.Add(d.Config.HealthCheck.Timeout.D() + slack)
	if !h.D.Now().Before(deadline) {
		took := h.D.Now().Sub(dep.SentAt).Round(time.Second)
		if !fleet {
			o := dep.Instances[0]
			return dep, release.DeployFailed{Cause: release.Causef("deploy on %s still %s %s after it was sent", o.InstanceID, o.Status, took)}
		}
		var still []string
		for _, i := range waiting {
			still = append(still, dep.Instances[i].InstanceID+" "+dep.Instances[i].Status)
		}
		return dep, release.DeployFailed{Cause: release.Causef("deploy on %d of %d candidates still running %s after it was sent: %s",
			len(waiting), len(dep.Instances), took, strings.Join(still, ", "))}
	}
	return dep, nil
}

// outcomes are the side's invocations in slot order, keeping what an
// earlier pass learnt of each.
func outcomes(ids []string, known []release.DeployOutcome) []release.DeployOutcome {
	out := make([]release.DeployOutcome, 0, len(ids))
	for _, id := range ids {
		o := release.DeployOutcome{InstanceID: id, Status: pending}
		for _, k := range known {
			if k.InstanceID == id {
				o = k
			}
		}
		out = append(out, o)
	}
	return out
}

// ended reports an invocation status SSM will not change again
// (CommandInvocationStatus: Pending, InProgress, Delayed and Cancelling
// move on).
func ended(status string) bool {
	switch ssmtypes.CommandInvocationStatus(status) {
	case ssmtypes.CommandInvocationStatusSuccess, ssmtypes.CommandInvocationStatusFailed,
		ssmtypes.CommandInvocationStatusTimedOut, ssmtypes.CommandInvocationStatusCancelled:
		return true
	}
	return false
}

// sortOut indexes the invocations that ended without success and those
// still running.
func sortOut(all []release.DeployOutcome) (failed, waiting []int) {
	for i, o := range all {
		switch {
		case !ended(o.Status):
			waiting = append(waiting, i)
		case o.Status != string(ssmtypes.CommandInvocationStatusSuccess):
			failed = append(failed, i)
		}
	}
	return failed, waiting
}

// summary is the side's status and last line: the first failed
// instance's, else the first still running's, else the first's.
func summary(all []release.DeployOutcome, failed, waiting []int) (string, string) {
	pick := 0
	switch {
	case len(failed) > 0:
		pick = failed[0]
	case len(waiting) > 0:
		pick = waiting[0]
	}
	return all[pick].Status, all[pick].LastLine
}

// failure names every failed instance with its exit code and last line;
// a side of one keeps the words it always had.
func failure(all []release.DeployOutcome, failed []int) release.Cause {
	var each []string
	for _, i := range failed {
		o := all[i]
		each = append(each, fmt.Sprintf("%s %s (exit %d): %s", o.InstanceID, strings.ToLower(o.Status), o.ExitCode, o.LastLine))
	}
	if len(all) == 1 {
		return release.Cause("deploy on " + each[0])
	}
	return release.Causef("deploy failed on %d of %d candidates: %s", len(failed), len(all), strings.Join(each, "; "))
}

// installed is the ledger's word for a side deployed: each instance
// with its zone and the script's last line.
func installed(d release.Doc, all []release.DeployOutcome) string {
	if len(all) == 1 {
		return fmt.Sprintf("%s installed on %s: %s", d.Version, all[0].InstanceID, all[0].LastLine)
	}
	zones := map[string]string{}
	for _, m := range d.Candidate.Instances {
		zones[m.InstanceID] = m.AZ
	}
	var each []string
	for _, o := range all {
		name := o.InstanceID
		if z := zones[o.InstanceID]; z != "" {
			name += " (" + z + ")"
		}
		each = append(each, name+": "+o.LastLine)
	}
	return fmt.Sprintf("%s installed on %d candidates: %s", d.Version, len(all), strings.Join(each, "; "))
}
