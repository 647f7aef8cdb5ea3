package release

// The workflow's vocabulary: state names and outcomes, spelled once. The
// state machine builds its states from these, the handlers write them in
// the ledger's timeline, the notifications and the CLI show them, and the
// scenario tests assert paths made of them. A name typed by hand elsewhere
// drifts (a handler once wrote "Cutover" for the state CutOverData).

// State names of the Release and SwitchBack workflows.
const (
	StatePrepare           = "Prepare"
	StatePrepareSwitchBack = "PrepareSwitchBack"
	StateRecordRejection   = "RecordRejection"
	// StateRejectionNotRecorded is where a failure to record a rejection
	// goes.
	StateRejectionNotRecorded = "RejectionNotRecorded"
	StateLaunchCandidate      = "LaunchCandidate"
	StatePrepareTestData      = "PrepareTestData"
	StateAttachTestData       = "AttachTestData"
	StateTestDataReady        = "TestDataReady?"
	StateWaitForTestData      = "WaitForTestData"
	StateWaitForCandidate     = "WaitForCandidate"
	StateCheckCandidate       = "CheckCandidate"
	StateCandidateReady       = "CandidateReady?"
	StateDeployRelease        = "DeployRelease"
	StateWaitForDeploy        = "WaitForDeploy"
	StateCheckDeploy          = "CheckDeploy"
	StateDeployDone           = "DeployDone?"
	StateRunSmokeTests        = "RunSmokeTests"
	StateAwaitApproval        = "AwaitApproval"
	// StateKeepPrevious tags the serving instance as the one kept for
	// rollback and schedules its retirement, before traffic moves.
	StateKeepPrevious     = "KeepPrevious"
	StateCutover          = "CutOverData"
	StateCutoverDone      = "DataOnCandidate?"
	StateWaitForCutover   = "WaitForCutover"
	StateSwitchTraffic    = "SwitchTraffic"
	StateVerifyLive       = "VerifyLive"
	StateBaked            = "Baked?"
	StateWaitBeforeVerify = "WaitBeforeVerify"
	// Behind an ALB the candidate is registered and healthy before any
	// traffic moves, then traffic shifts step by step.
	StateRegisterCandidate = "RegisterCandidate"
	StateTargetHealthy     = "TargetHealthy?"
	StateWaitForTarget     = "WaitForTargetHealth"
	StateShiftTraffic      = "ShiftTraffic"
	StateShifted           = "AllTrafficShifted?"
	StateWaitBeforeShift   = "BakeTrafficStep"
	// StateRecordRelease is the bookkeeping after the commit point: the
	// new side serves and was verified.
	StateRecordRelease = "RecordRelease"
	// StateReleaseNotRecorded is where a failure of the bookkeeping
	// goes: the release stays Released, with a warning.
	StateReleaseNotRecorded = "ReleaseNotRecorded"
	StateRollback           = "Rollback"
	StateRollbackDone       = "RollbackDone?"
	StateWaitForRollback    = "WaitForRollback"
	StateAbandon            = "ReportRollbackFailure"
	// StateRollbackFailureNotRecorded is where a failure of the report
	// goes.
	StateRollbackFailureNotRecorded = "RollbackFailureNotRecorded"
)

// Outcomes: how a release ends. The first four are the workflows'
// terminal states; Duplicate is a repeated upload event that started no
// execution. The ledger's final statuses carry the same names.
const (
	Released       = "Released"
	RolledBack     = "RolledBack"
	RollbackFailed = "RollbackFailed"
	Rejected       = "Rejected"
	Duplicate      = "Duplicate"
)

// Outcomes lists the terminal states of an execution.
var Outcomes = []string{Released, RolledBack, RollbackFailed, Rejected}
