package registry

import (
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/approval"
	"github.com/greenlight/greenlight/lambdas/approvalpage"
	"github.com/greenlight/greenlight/lambdas/candidate"
	"github.com/greenlight/greenlight/lambdas/data"
	"github.com/greenlight/greenlight/lambdas/deploy"
	"github.com/greenlight/greenlight/lambdas/finish"
	"github.com/greenlight/greenlight/lambdas/prepare"
	"github.com/greenlight/greenlight/lambdas/reject"
	"github.com/greenlight/greenlight/lambdas/retire"
	"github.com/greenlight/greenlight/lambdas/rollback"
	"github.com/greenlight/greenlight/lambdas/smoke"
	"github.com/greenlight/greenlight/lambdas/start"
	"github.com/greenlight/greenlight/lambdas/step"
	"github.com/greenlight/greenlight/lambdas/switchback"
	"github.com/greenlight/greenlight/lambdas/traffic"
	"github.com/greenlight/greenlight/lambdas/watch"
)

// Handler names: each is a function's Handler setting.
const (
	Start          = "start"
	Prepare        = "prepare"
	Reject         = "reject"
	Launch         = "launch"
	CheckCandidate = "check-candidate"
	TestData       = "test-data"
	Cutover        = "cutover"
	Deploy         = "deploy"
	CheckDeploy    = "check-deploy"
	Smoke          = "smoke"
	Approval       = "approval"
	ApprovalPage   = "approval-page"
	Switch         = "switch"
	Verify         = "verify"
	Register       = "register"
	Shift          = "shift"
	KeepPrevious   = "keep-previous"
	RecordRelease  = "record-release"
	Rollback       = "rollback"
	Abandon        = "abandon"
	Retire         = "retire"
	SwitchBack     = "switchback"
	Watch          = "watch"
)

func init() {
	add(Start, "greenlight: start one release per uploaded artifact", func(d *step.Deps) func(ctxT, evT) (start.Result, error) {
		return start.Handler{D: d}.Start
	})
	add(Prepare, "greenlight: validate the artifact, find the live instance, take the lock", func(d *step.Deps) func(ctxT, prepare.Input) (docT, error) {
		return prepare.Handler{D: d}.Prepare
	})
	add(Reject, "greenlight: record a release refused before anything was created", func(d *step.Deps) func(ctxT, docT) (reject.Result, error) {
		return requiring(reject.Handler{D: d}.Record)
	})
	add(Launch, "greenlight: launch the candidate instance", func(d *step.Deps) func(ctxT, docT) (candT, error) {
		return requiring(candidate.Handler{D: d}.Launch, release.PartConfig, release.PartLive)
	})
	add(CheckCandidate, "greenlight: check the candidate is running, healthy and online in SSM", func(d *step.Deps) func(ctxT, docT) (candT, error) {
		return requiring(candidate.Handler{D: d}.Check, release.PartConfig, release.PartCandidate)
	})
	addFor(release.Config.HasData, TestData, "greenlight: give the candidate a restored copy of the live data", func(d *step.Deps) func(ctxT, docT) (testDataT, error) {
		return requiring(data.Handler{D: d}.TestData, release.PartConfig, release.PartLive, release.PartCandidate)
	})
	addFor(release.Config.HasData, Cutover, "greenlight: move the live data to the candidate under maintenance, no write lost", func(d *step.Deps) func(ctxT, docT) (cutoverT, error) {
		return requiring(data.Handler{D: d}.Cutover, release.PartConfig, release.PartLive, release.PartCandidate)
	})
	add(Deploy, "greenlight: install the release on the candidate over SSM", func(d *step.Deps) func(ctxT, docT) (depT, error) {
		return requiring(deploy.Handler{D: d}.Send, release.PartConfig, release.PartCandidate)
	})
	add(CheckDeploy, "greenlight: follow the deploy command", func(d *step.Deps) func(ctxT, docT) (depT, error) {
		return requiring(deploy.Handler{D: d}.Check, release.PartConfig, release.PartCandidate, release.PartDeploy)
	})
	add(Smoke, "greenlight: run the smoke tests against the candidate", func(d *step.Deps) func(ctxT, docT) (repT, error) {
		return requiring(smoke.Handler{D: d}.Run, release.PartConfig, release.PartCandidate)
	})
	add(Approval, "greenlight: ask for approval and keep the task token", func(d *step.Deps) func(ctxT, approval.Input) (struct{}, error) {
		return approval.Handler{D: d}.Open
	})
	addFor(release.Config.ApprovalLinks, ApprovalPage, "greenlight: the approval links' confirm page (a public function URL; GET shows, only its form answers)", func(d *step.Deps) func(ctxT, urlReqT) (urlRespT, error) {
		return approvalpage.Handler{D: d}.Serve
	})
	addFor(elasticIP, Switch, "greenlight: move the Elastic IP to the candidate", func(d *step.Deps) func(ctxT, docT) (switchT, error) {
		return requiring(traffic.Handler{D: d}.Switch, release.PartConfig, release.PartLive, release.PartCandidate)
	})
	addFor(elasticIP, Verify, "greenlight: check the public endpoint during the bake time", func(d *step.Deps) func(ctxT, docT) (verifyT, error) {
		return requiring(traffic.Handler{D: d}.Verify, release.PartConfig, release.PartLive, release.PartSwitch)
	})
	addFor(alb, Register, "greenlight: register the candidate behind the load balancer and wait until it is healthy", func(d *step.Deps) func(ctxT, docT) (registerT, error) {
		return requiring(traffic.Handler{D: d}.Register, release.PartConfig, release.PartLive, release.PartCandidate)
	})
	addFor(alb, Shift, "greenlight: shift traffic to the candidate step by step, watching alarms, error rates and smoke tests", func(d *step.Deps) func(ctxT, docT) (shiftT, error) {
		return requiring(traffic.Handler{D: d}.Shift, release.PartConfig, release.PartLive, release.PartCandidate)
	})
	add(KeepPrevious, "greenlight: keep the serving instance for rollback and schedule its retirement, before traffic moves", func(d *step.Deps) func(ctxT, docT) (keepT, error) {
		return requiring(finish.Handler{D: d}.Keep, release.PartConfig, release.PartLive, release.PartCandidate)
	})
	add(RecordRelease, "greenlight: record a verified release (tags, serving record, ledger, notification, lock)", func(d *step.Deps) func(ctxT, docT) (recordT, error) {
		return requiring(finish.Handler{D: d}.Record, release.PartConfig, release.PartLive, release.PartCandidate, release.PartTraffic)
	})
	add(Rollback, "greenlight: take AWS back to the live side after a failed release, from what AWS shows", func(d *step.Deps) func(ctxT, docT) (rollbackT, error) {
		return requiring(rollback.Handler{D: d}.Rollback)
	})
	add(Abandon, "greenlight: record a rollback that could not finish and raise the alarm", func(d *step.Deps) func(ctxT, docT) (rollbackT, error) {
		return requiring(rollback.Handler{D: d}.Abandon)
	})
	add(SwitchBack, "greenlight: check the kept instance and take the lock to switch back to it (greenlight rollback)", func(d *step.Deps) func(ctxT, switchback.Input) (docT, error) {
		return switchback.Handler{D: d}.Prepare
	})
	add(Retire, "greenlight: terminate instances kept for rollback once their retention has passed", func(d *step.Deps) func(ctxT, retire.Input) (retire.Result, error) {
		return retire.Handler{D: d}.Retire
	})
	add(Watch, "greenlight: raise the alarm when an execution stops outside the workflow's outcomes", func(d *step.Deps) func(ctxT, evT) (watch.Result, error) {
		return watch.Handler{D: d}.Watch
	})
}

// requiring makes a step refuse a document that lacks what it reads (see
// release.Doc.Require): every step needs the release id and app, most the
// parts earlier states filled.
func requiring[Out any](fn func(ctxT, docT) (Out, error), parts ...string) func(ctxT, docT) (Out, error) {
	return func(ctx ctxT, d docT) (Out, error) {
		if err := d.Require(parts...); err != nil {
			var zero Out
			return zero, err
		}
		return fn(ctx, d)
	}
}
