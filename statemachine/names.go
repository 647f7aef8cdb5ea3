// Package statemachine builds the Release workflow with CDK's Step
// Functions constructs. Each state names one thing that happens, so the
// console graph reads as the release; the terminal states say how it
// ended.
package statemachine

// State names: the one place they are spelled. Scenario tests assert paths
// made of these.
const (
	Prepare           = "Prepare"
	PrepareSwitchBack = "PrepareSwitchBack"
	RecordRejection   = "RecordRejection"
	// RejectionNotRecorded is where a failure to record a rejection goes.
	RejectionNotRecorded = "RejectionNotRecorded"
	LaunchCandidate      = "LaunchCandidate"
	PrepareTestData      = "PrepareTestData"
	AttachTestData       = "AttachTestData"
	TestDataReady        = "TestDataReady?"
	WaitForTestData      = "WaitForTestData"
	WaitForCandidate     = "WaitForCandidate"
	CheckCandidate       = "CheckCandidate"
	CandidateReady       = "CandidateReady?"
	DeployRelease        = "DeployRelease"
	WaitForDeploy        = "WaitForDeploy"
	CheckDeploy          = "CheckDeploy"
	DeployDone           = "DeployDone?"
	RunSmokeTests        = "RunSmokeTests"
	AwaitApproval        = "AwaitApproval"
	Cutover              = "CutOverData"
	CutoverDone          = "DataOnCandidate?"
	WaitForCutover       = "WaitForCutover"
	SwitchTraffic        = "SwitchTraffic"
	VerifyLive           = "VerifyLive"
	Baked                = "Baked?"
	WaitBeforeVerify     = "WaitBeforeVerify"
	Finish               = "KeepPreviousAndFinish"
	Rollback             = "Rollback"
	RollbackDone         = "RollbackDone?"
	WaitForRollback      = "WaitForRollback"
	Abandon              = "ReportRollbackFailure"
	// RollbackFailureNotRecorded is where a failure of the report goes.
	RollbackFailureNotRecorded = "RollbackFailureNotRecorded"

	// Terminal states: how a release ends.
	Released       = "Released"
	RolledBack     = "RolledBack"
	RollbackFailed = "RollbackFailed"
	Rejected       = "Rejected"
)

// Duplicate is the fifth outcome: a repeated upload event that started no
// execution (the start function reports it).
const Duplicate = "Duplicate"

// Outcomes lists the terminal states of an execution.
var Outcomes = []string{Released, RolledBack, RollbackFailed, Rejected}
