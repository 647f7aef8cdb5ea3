package registry

import (
	"github.com/greenlight/greenlight/lambdas/approval"
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
	Switch         = "switch"
	Verify         = "verify"
	Finish         = "finish"
	Rollback       = "rollback"
	Abandon        = "abandon"
	Retire         = "retire"
	SwitchBack     = "switchback"
)

func init() {
	add(Start, "greenlight: start one release per uploaded artifact", func(d *step.Deps) func(ctxT, evT) (start.Result, error) {
		return start.Handler{D: d}.Start
	})
	add(Prepare, "greenlight: validate the artifact, find the live instance, take the lock", func(d *step.Deps) func(ctxT, prepare.Input) (docT, error) {
		return prepare.Handler{D: d}.Prepare
	})
	add(Reject, "greenlight: record a release refused before anything was created", func(d *step.Deps) func(ctxT, docT) (reject.Result, error) {
		return reject.Handler{D: d}.Record
	})
	add(Launch, "greenlight: launch the candidate instance", func(d *step.Deps) func(ctxT, docT) (candT, error) {
		return candidate.Handler{D: d}.Launch
	})
	add(CheckCandidate, "greenlight: check the candidate is running, healthy and online in SSM", func(d *step.Deps) func(ctxT, docT) (candT, error) {
		return candidate.Handler{D: d}.Check
	})
	addData(TestData, "greenlight: give the candidate a restored copy of the live data", func(d *step.Deps) func(ctxT, docT) (testDataT, error) {
		return data.Handler{D: d}.TestData
	})
	addData(Cutover, "greenlight: move the live data to the candidate under maintenance, no write lost", func(d *step.Deps) func(ctxT, docT) (cutoverT, error) {
		return data.Handler{D: d}.Cutover
	})
	add(Deploy, "greenlight: install the release on the candidate over SSM", func(d *step.Deps) func(ctxT, docT) (depT, error) {
		return deploy.Handler{D: d}.Send
	})
	add(CheckDeploy, "greenlight: follow the deploy command", func(d *step.Deps) func(ctxT, docT) (depT, error) {
		return deploy.Handler{D: d}.Check
	})
	add(Smoke, "greenlight: run the smoke tests against the candidate", func(d *step.Deps) func(ctxT, docT) (repT, error) {
		return smoke.Handler{D: d}.Run
	})
	add(Approval, "greenlight: ask for approval and keep the task token", func(d *step.Deps) func(ctxT, approval.Input) (struct{}, error) {
		return approval.Handler{D: d}.Open
	})
	add(Switch, "greenlight: move the Elastic IP to the candidate", func(d *step.Deps) func(ctxT, docT) (switchT, error) {
		return traffic.Handler{D: d}.Switch
	})
	add(Verify, "greenlight: check the public endpoint during the bake time", func(d *step.Deps) func(ctxT, docT) (verifyT, error) {
		return traffic.Handler{D: d}.Verify
	})
	add(Finish, "greenlight: keep the old instance, schedule its retirement, record the release", func(d *step.Deps) func(ctxT, docT) (finishT, error) {
		return finish.Handler{D: d}.Finish
	})
	add(Rollback, "greenlight: undo what a failed release did, newest first", func(d *step.Deps) func(ctxT, docT) (rollbackT, error) {
		return rollback.Handler{D: d}.Rollback
	})
	add(Abandon, "greenlight: record a rollback that could not finish and raise the alarm", func(d *step.Deps) func(ctxT, docT) (rollbackT, error) {
		return rollback.Handler{D: d}.Abandon
	})
	add(SwitchBack, "greenlight: check the kept instance and take the lock to switch back to it (greenlight rollback)", func(d *step.Deps) func(ctxT, switchback.Input) (docT, error) {
		return switchback.Handler{D: d}.Prepare
	})
	add(Retire, "greenlight: terminate instances kept for rollback once their retention has passed", func(d *step.Deps) func(ctxT, retire.Input) (retire.Result, error) {
		return retire.Handler{D: d}.Retire
	})
}
