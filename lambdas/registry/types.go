package registry

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/greenlight/greenlight/internal/release"
)

// Short names for the handler signatures above.
type (
	ctxT      = context.Context
	evT       = events.EventBridgeEvent
	urlReqT   = events.LambdaFunctionURLRequest
	urlRespT  = events.LambdaFunctionURLResponse
	docT      = release.Doc
	candT     = release.Candidate
	testDataT = release.TestData
	cutoverT  = release.Cutover
	depT      = release.Deploy
	repT      = release.Report
	switchT   = release.Switch
	verifyT   = release.Verify
	registerT = release.Register
	shiftT    = release.Shift
	keepT     = release.Keep
	recordT   = release.Record
	rollbackT = release.Rollback
)
