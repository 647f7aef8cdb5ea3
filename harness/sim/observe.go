package sim

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/greenlight/greenlight/internal/awsapi"
)

// The services the emulators serve, named as the SDK names them.
const (
	ServiceS3       = "S3"
	ServiceDynamoDB = "DynamoDB"
)

// observe is SDK middleware for the real clients the region hands out
// (S3 on gofakes3, DynamoDB on dynalite): it records their calls beside
// the simulated services' and applies faults injected for them, so the
// call record is complete and Inject works on every service.
func (r *Region) observe(service string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("greenlightSimObserve",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op, caller := awsmiddleware.GetOperationName(ctx), CallerFrom(ctx)
				r.mu.Lock()
				err := r.injected(service, op, caller, true)
				if err == nil {
					err = r.noRoute(service, caller)
				}
				r.mu.Unlock()
				var out middleware.InitializeOutput
				var md middleware.Metadata
				if err != nil {
					// The SDK wraps this in its OperationError, as for an
					// error from the wire.
					err = responseError(r.nextUUID(), err)
				} else {
					out, md, err = next.HandleInitialize(ctx, in)
				}
				r.mu.Lock()
				r.calls = append(r.calls, Call{Caller: caller, Service: service, Operation: op, Code: ErrorCode(err), At: r.now(), Versioned: versioned(in.Parameters), Input: in.Parameters})
				r.mu.Unlock()
				return out, md, err
			}), middleware.After)
	}
}

// versioned reports an S3 read of one object version.
func versioned(params any) bool {
	switch in := params.(type) {
	case *s3.GetObjectInput:
		return in.VersionId != nil && *in.VersionId != ""
	case *s3.HeadObjectInput:
		return in.VersionId != nil && *in.VersionId != ""
	}
	return false
}

func (r *Region) nextUUID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uuid()
}

// observedS3 is the region's S3 client with its calls observed.
func (r *Region) observedS3(s *S3) *s3.Client {
	return s3.New(s.Client().Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, r.observe(ServiceS3))
	})
}

// observedDynamoDB observes Options.DynamoDB when it is an SDK client.
func (r *Region) observedDynamoDB() awsapi.DynamoDB {
	c, ok := r.opts.DynamoDB.(*dynamodb.Client)
	if !ok {
		return r.opts.DynamoDB
	}
	return dynamodb.New(c.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, r.observe(ServiceDynamoDB))
	})
}
