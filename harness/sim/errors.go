package sim

import (
	"errors"
	"fmt"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Service names as the SDK spells them in its errors ("operation error
// EC2: RunInstances"), used for recording and fault injection too.
const (
	ServiceEC2       = "EC2"
	ServiceSSM       = "SSM"
	ServiceScheduler = "Scheduler"
	ServiceSNS       = "SNS"
	ServiceSFN       = "SFN"
	// ServiceELB is Elastic Load Balancing (v2); its SDK client names
	// itself "Elastic Load Balancing v2" in errors (sdkServiceID).
	ServiceELB        = "ELB"
	ServiceCloudWatch = "CloudWatch"
	// ServiceKMS records the KMS calls EC2 and EBS make on a caller's
	// behalf (see KMSRequest); the simulator serves no KMS client.
	ServiceKMS = "KMS"
)

// apiError is an AWS API error as the SDK hands it to the caller. Where the
// service's model declares the code, the SDK returns its typed error (for
// example *ssmtypes.ParameterNotFound), so code may use errors.As on either
// that type or smithy.APIError; the simulator does the same. Codes a model
// does not declare (all of EC2's) come back as *smithy.GenericAPIError
// with Code and Message and, as the SDK's deserializers leave it, no
// Fault: whether AWS or the caller is at fault shows in the HTTP status of
// the awshttp.ResponseError around it (see wrapOp), not in Fault.
func apiError(service, code, msg string) error {
	if mk, ok := modeled[service][code]; ok {
		return mk(msg)
	}
	return &smithy.GenericAPIError{Code: code, Message: msg}
}

// apiErrorf formats the message of an apiError.
func apiErrorf(service, code, format string, args ...any) error {
	return apiError(service, code, fmt.Sprintf(format, args...))
}

// serverCodes are the codes AWS answers with a 5xx status: its own fault.
var serverCodes = map[string]bool{
	"InternalError": true, "InternalFailure": true, "ServiceUnavailable": true,
	"Unavailable": true, "InternalServerError": true, "InternalServerException": true,
	"InternalErrorException": true, "ServiceException": true,
}

// modeled builds the SDK's typed error for each code the simulator may
// return and the service's model declares.
var modeled = map[string]map[string]func(string) error{
	ServiceSSM: {
		"InvocationDoesNotExist": func(m string) error { return &ssmtypes.InvocationDoesNotExist{Message: &m} },
		"InvalidInstanceId":      func(m string) error { return &ssmtypes.InvalidInstanceId{Message: &m} },
		"ParameterNotFound":      func(m string) error { return &ssmtypes.ParameterNotFound{Message: &m} },
		"InvalidDocument":        func(m string) error { return &ssmtypes.InvalidDocument{Message: &m} },
		"InvalidCommandId":       func(m string) error { return &ssmtypes.InvalidCommandId{Message: &m} },
		"InvalidFilterKey":       func(m string) error { return &ssmtypes.InvalidFilterKey{Message: &m} },
		"InvalidParameters":      func(m string) error { return &ssmtypes.InvalidParameters{Message: &m} },
		"ThrottlingException":    func(m string) error { return &ssmtypes.ThrottlingException{Message: &m} },
		"InternalServerError":    func(m string) error { return &ssmtypes.InternalServerError{Message: &m} },
	},
	ServiceScheduler: {
		"ConflictException":             func(m string) error { return &schedtypes.ConflictException{Message: &m} },
		"ResourceNotFoundException":     func(m string) error { return &schedtypes.ResourceNotFoundException{Message: &m} },
		"ValidationException":           func(m string) error { return &schedtypes.ValidationException{Message: &m} },
		"ThrottlingException":           func(m string) error { return &schedtypes.ThrottlingException{Message: &m} },
		"InternalServerException":       func(m string) error { return &schedtypes.InternalServerException{Message: &m} },
		"ServiceQuotaExceededException": func(m string) error { return &schedtypes.ServiceQuotaExceededException{Message: &m} },
	},
	ServiceSNS: {
		"NotFound":         func(m string) error { return &snstypes.NotFoundException{Message: &m} },
		"Throttled":        func(m string) error { return &snstypes.ThrottledException{Message: &m} },
		"InvalidParameter": func(m string) error { return &snstypes.InvalidParameterException{Message: &m} },
		"InternalError":    func(m string) error { return &snstypes.InternalErrorException{Message: &m} },
	},
	ServiceDynamoDB: {
		"ConditionalCheckFailedException":        func(m string) error { return &ddbtypes.ConditionalCheckFailedException{Message: &m} },
		"ProvisionedThroughputExceededException": func(m string) error { return &ddbtypes.ProvisionedThroughputExceededException{Message: &m} },
		"ThrottlingException":                    func(m string) error { return &ddbtypes.ThrottlingException{Message: &m} },
		"ResourceNotFoundException":              func(m string) error { return &ddbtypes.ResourceNotFoundException{Message: &m} },
		"InternalServerError":                    func(m string) error { return &ddbtypes.InternalServerError{Message: &m} },
	},
	ServiceSecrets: {
		"ResourceNotFoundException": func(m string) error { return &smtypes.ResourceNotFoundException{Message: &m} },
		"InvalidRequestException":   func(m string) error { return &smtypes.InvalidRequestException{Message: &m} },
	},
	ServiceS3: {
		"NoSuchKey":    func(m string) error { return &s3types.NoSuchKey{Message: &m} },
		"NoSuchBucket": func(m string) error { return &s3types.NoSuchBucket{Message: &m} },
	},
	// ELBv2 speaks the query protocol: its modeled errors carry the
	// short codes ("ListenerNotFound"), as the SDK's types return them.
	ServiceELB: {
		"ListenerNotFound":      func(m string) error { return &elbtypes.ListenerNotFoundException{Message: &m} },
		"RuleNotFound":          func(m string) error { return &elbtypes.RuleNotFoundException{Message: &m} },
		"TargetGroupNotFound":   func(m string) error { return &elbtypes.TargetGroupNotFoundException{Message: &m} },
		"LoadBalancerNotFound":  func(m string) error { return &elbtypes.LoadBalancerNotFoundException{Message: &m} },
		"InvalidTarget":         func(m string) error { return &elbtypes.InvalidTargetException{Message: &m} },
		"OperationNotPermitted": func(m string) error { return &elbtypes.OperationNotPermittedException{Message: &m} },
	},
	// CloudWatch is query-compatible: the SDK builds the typed error and
	// overrides its code with the query code AWS sends alongside
	// ("InvalidParameterValue", not "InvalidParameterValueException").
	ServiceCloudWatch: {
		"InvalidParameterValue": func(m string) error {
			return &cwtypes.InvalidParameterValueException{Message: &m, ErrorCodeOverride: ptr("InvalidParameterValue")}
		},
		"InvalidParameterCombination": func(m string) error {
			return &cwtypes.InvalidParameterCombinationException{Message: &m, ErrorCodeOverride: ptr("InvalidParameterCombination")}
		},
	},
	ServiceSFN: {
		"ExecutionAlreadyExists":   func(m string) error { return &sfntypes.ExecutionAlreadyExists{Message: &m} },
		"ExecutionDoesNotExist":    func(m string) error { return &sfntypes.ExecutionDoesNotExist{Message: &m} },
		"StateMachineDoesNotExist": func(m string) error { return &sfntypes.StateMachineDoesNotExist{Message: &m} },
		"InvalidArn":               func(m string) error { return &sfntypes.InvalidArn{Message: &m} },
		"InvalidName":              func(m string) error { return &sfntypes.InvalidName{Message: &m} },
		"InvalidExecutionInput":    func(m string) error { return &sfntypes.InvalidExecutionInput{Message: &m} },
		"InvalidOutput":            func(m string) error { return &sfntypes.InvalidOutput{Message: &m} },
		"InvalidToken":             func(m string) error { return &sfntypes.InvalidToken{Message: &m} },
		"TaskDoesNotExist":         func(m string) error { return &sfntypes.TaskDoesNotExist{Message: &m} },
		"TaskTimedOut":             func(m string) error { return &sfntypes.TaskTimedOut{Message: &m} },
	},
}

// httpStatus is the status AWS answers a code with; the SDK keeps it in
// the error chain (awshttp.ResponseError), where retry logic looks.
func httpStatus(code string) int {
	switch code {
	case "ServiceUnavailable", "Unavailable", "SlowDown":
		return http.StatusServiceUnavailable
	case "ResourceNotFoundException", "NotFound":
		return http.StatusNotFound
	case "ConflictException":
		return http.StatusConflict
	case "Throttled":
		return http.StatusTooManyRequests
	}
	if serverCodes[code] {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// wrapOp wraps an error from an operation the way the SDK client does:
// *smithy.OperationError around *awshttp.ResponseError around the API
// error, so err.Error() reads like the real thing ("operation error EC2:
// AttachVolume, https response error StatusCode: 400, RequestID: …, api
// error VolumeInUse: …") and errors.As finds every layer.
func wrapOp(service, op, requestID string, err error) error {
	if err == nil {
		return nil
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return err
	}
	id := service
	if sdk, ok := sdkServiceID[service]; ok {
		id = sdk
	}
	return &smithy.OperationError{ServiceID: id, OperationName: op, Err: responseError(requestID, err)}
}

// sdkServiceID is the service name an SDK client puts in its errors where
// it differs from the short name the region records calls under.
var sdkServiceID = map[string]string{ServiceELB: "Elastic Load Balancing v2"}

func ptr(s string) *string { return &s }

// responseError puts an API error in the HTTP response error the SDK
// reports it in, with the status AWS answers the code with.
func responseError(requestID string, err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	status := httpStatus(ae.ErrorCode())
	return &awshttp.ResponseError{
		RequestID: requestID,
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{}}},
			Err:      err,
		},
	}
}

// ErrorCode is the AWS error code in err, or "" when err is nil or not an
// AWS API error.
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// paramRequired is the error the SDK's input validation returns, before
// any request is sent, when a required field is missing.
func paramRequired(input string, fields ...string) error {
	e := smithy.InvalidParamsError{Context: input}
	for _, f := range fields {
		e.Add(smithy.NewErrParamRequired(f))
	}
	return e
}

// missing lists the names of the required fields whose value is empty.
func missing(fields map[string]bool) []string {
	var out []string
	for name, present := range fields {
		if !present {
			out = append(out, name)
		}
	}
	sortStrings(out)
	return out
}
