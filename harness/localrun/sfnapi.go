package localrun

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/awsapi"
)

// serveSFN answers the Step Functions JSON protocol (awsJson1_0) for the
// operations the CLI uses, from the simulated region: so `greenlight
// approve --local` talks to the local environment with the real SDK client,
// as it talks to AWS.
func serveSFN(w http.ResponseWriter, r *http.Request, body []byte, api awsapi.SFN) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	ctx, cancel := context.WithTimeout(sim.WithCaller(r.Context(), "greenlight-cli"), 30*time.Second)
	defer cancel()
	var out any
	var err error
	decode := func(v any) bool {
		if e := json.Unmarshal(body, v); e != nil {
			sfnFault(w, &smithy.GenericAPIError{Code: "SerializationException", Message: e.Error()})
			return false
		}
		return true
	}
	switch op {
	case "SendTaskSuccess":
		var in sfn.SendTaskSuccessInput
		if !decode(&in) {
			return
		}
		out, err = api.SendTaskSuccess(ctx, &in)
	case "SendTaskFailure":
		var in sfn.SendTaskFailureInput
		if !decode(&in) {
			return
		}
		out, err = api.SendTaskFailure(ctx, &in)
	case "SendTaskHeartbeat":
		var in sfn.SendTaskHeartbeatInput
		if !decode(&in) {
			return
		}
		out, err = api.SendTaskHeartbeat(ctx, &in)
	case "StartExecution":
		var in sfn.StartExecutionInput
		if !decode(&in) {
			return
		}
		var o *sfn.StartExecutionOutput
		if o, err = api.StartExecution(ctx, &in); err == nil {
			out = map[string]any{"executionArn": o.ExecutionArn, "startDate": float64(o.StartDate.UnixMilli()) / 1000}
		}
	case "DescribeExecution":
		var in sfn.DescribeExecutionInput
		if !decode(&in) {
			return
		}
		var o *sfn.DescribeExecutionOutput
		if o, err = api.DescribeExecution(ctx, &in); err == nil {
			d := map[string]any{"executionArn": o.ExecutionArn, "stateMachineArn": o.StateMachineArn, "name": o.Name,
				"status": o.Status, "input": o.Input, "output": o.Output, "error": o.Error, "cause": o.Cause}
			if o.StartDate != nil {
				d["startDate"] = float64(o.StartDate.UnixMilli()) / 1000
			}
			if o.StopDate != nil {
				d["stopDate"] = float64(o.StopDate.UnixMilli()) / 1000
			}
			out = d
		}
	default:
		sfnFault(w, &smithy.GenericAPIError{Code: "UnknownOperationException", Message: "the local engine does not serve " + op})
		return
	}
	if err != nil {
		sfnFault(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if out == nil {
		out = map[string]any{}
	}
	_ = json.NewEncoder(w).Encode(out)
}

// sfnFault writes an error the way Step Functions does: HTTP 400 with
// {"__type": code, "message": ...}.
func sfnFault(w http.ResponseWriter, err error) {
	code, msg := "InternalFailure", err.Error()
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg = ae.ErrorCode(), ae.ErrorMessage()
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
