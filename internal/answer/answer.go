// Package answer sends an approval's answer to the task token the
// approval step keeps: the one way `greenlight approve|reject`, the
// approval links and the local engine answer, so that the workflow sees
// the same output and the same error whoever answered.
package answer

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"

	"github.com/greenlight/greenlight/internal/release"
)

// RejectedError is the error a rejection sends to the approval task; the
// state machine rolls the release back on it.
const RejectedError = release.Rejected

// TaskAPI is the slice of Step Functions an answer needs.
type TaskAPI interface {
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
}

// Send answers the task: an approval is the task's output, a rejection
// its failure with RejectedError and who rejected it and why as the
// cause. The token is a credential: callers keep it out of what they
// print (an SDK error may quote it).
func Send(ctx context.Context, api TaskAPI, token string, a release.Approval) error {
	if a.Approved {
		out, err := json.Marshal(a)
		if err != nil {
			return err
		}
		_, err = api.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(out))})
		return err
	}
	_, err := api.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(token),
		Error: aws.String(RejectedError), Cause: aws.String(Cause(a))})
	return err
}

// Cause is a rejection's cause as the workflow records it.
func Cause(a release.Approval) string {
	reason := a.Reason
	if reason == "" {
		reason = "no reason given"
	}
	return "rejected by " + a.By + ": " + reason
}

// TaskEnded reports whether err says the task no longer waits for an
// answer. Step Functions answers TaskTimedOut for a token that timed out
// and for one answered already, InvalidToken or TaskDoesNotExist for one
// it does not know ("SendTaskSuccess", Errors, AWS Step Functions API
// Reference: /step-functions/latest/apireference/API_SendTaskSuccess.html).
func TaskEnded(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "TaskTimedOut", "InvalidToken", "TaskDoesNotExist":
		return true
	}
	return false
}
