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
	id := d.Candidate.First().InstanceID
	out, err := h.D.AWS.SSM.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName:   aws.String(h.D.Env.DeployDocument),
		InstanceIds:    []string{id},
		Parameters:     params,
		Comment:        aws.String(release.CommandComment(d.ReleaseID, "deploy")),
		TimeoutSeconds: aws.Int32(600),
	})
	if err != nil {
		return release.Deploy{}, step.AWS("ssm:SendCommand", id, err)
	}
	cmd := aws.ToString(out.Command.CommandId)
	now := h.D.Now().UTC()
	h.D.Did(ctx, d.ReleaseID, "ssm:SendCommand", "document", h.D.Env.DeployDocument, "instance", id, "command", cmd)
	err = h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Event: &ledger.Event{At: now, Step: release.StateDeployRelease, Detail: fmt.Sprintf("deploying %s on %s (command %s)", d.Version, id, cmd)},
	})
	if err != nil {
		return release.Deploy{}, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	return release.Deploy{CommandID: cmd, SentAt: now, Poll: release.Poll{WaitSeconds: int(FirstCheck / time.Second)}, Status: "Pending"}, nil
}

// Check follows the command's invocation until it ends (or the budget is
// spent).
func (h Handler) Check(ctx context.Context, d release.Doc) (release.Deploy, error) {
	if err := h.D.Aborted(ctx, d); err != nil {
		return *d.Deploy, err
	}
	return step.PollPasses(ctx, h.D, *d.Deploy, func(ctx context.Context, dep release.Deploy) (release.Deploy, bool, time.Duration, error) {
		dep, err := h.checkOnce(ctx, d, dep)
		return dep, dep.Ready, CheckEvery, err
	})
}

// checkOnce reads the command's invocation once.
func (h Handler) checkOnce(ctx context.Context, d release.Doc, dep release.Deploy) (release.Deploy, error) {
	dep.Checks++
	dep.WaitSeconds = int(WaitBetween / time.Second)
	id := d.Candidate.First().InstanceID
	inv, err := h.D.AWS.SSM.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(dep.CommandID), InstanceId: aws.String(id)})
	deadline := dep.SentAt.Add(d.Config.HealthCheck.Timeout.D() + slack)
	switch {
	case step.ErrorCode(err) == "InvocationDoesNotExist":
		// Just sent: SSM has not registered the invocation yet.
		dep.Status = "Pending"
	case err != nil:
		return dep, step.AWS("ssm:GetCommandInvocation", dep.CommandID, err)
	default:
		dep.Status = string(inv.Status)
		switch inv.Status {
		case ssmtypes.CommandInvocationStatusSuccess:
			dep.Ready = true
			err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
				Event: &ledger.Event{Step: release.StateCheckDeploy, Detail: fmt.Sprintf("%s installed on %s: %s", d.Version, id, instance.LastLine(aws.ToString(inv.StandardOutputContent)))},
			})
			if err != nil {
				return dep, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
			}
			return dep, nil
		case ssmtypes.CommandInvocationStatusFailed, ssmtypes.CommandInvocationStatusTimedOut, ssmtypes.CommandInvocationStatusCancelled:
			dep.LastLine = instance.LastLine(aws.ToString(inv.StandardOutputContent))
			if dep.LastLine == "" {
				dep.LastLine = instance.LastLine(aws.ToString(inv.StandardErrorContent))
			}
			return dep, release.DeployFailed{Cause: release.Causef("deploy on %s %s (exit %d): %s", id, strings.ToLower(string(inv.Status)), inv.ResponseCode, dep.LastLine)}
		}
	}
	if !h.D.Now().Before(deadline) {
		return dep, release.DeployFailed{Cause: release.Causef("deploy on %s still %s %s after it was sent", id, dep.Status, h.D.Now().Sub(dep.SentAt).Round(time.Second))}
	}
	return dep, nil
}
