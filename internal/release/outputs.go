package release

// Stack output names: the stack publishes its resources under them and the
// CLI finds them there (through CloudFormation), so the CLI needs neither
// the CDK nor the stack's code to know them.
const (
	OutputBucket       = "ReleaseBucket"
	OutputTable        = "LedgerTable"
	OutputTopic        = "NotificationTopic"
	OutputStateMachine = "StateMachine"
	OutputSwitchBack   = "RollbackStateMachine"
	OutputApp          = "App"
)
