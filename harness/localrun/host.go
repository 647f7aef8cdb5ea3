package localrun

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/discover"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

// Job is one execution the runner is asked to run.
type Job struct {
	Name       string              `json:"name"`
	Definition map[string]any      `json:"definition"`
	Input      any                 `json:"input"`
	Context    map[string]any      `json:"context"`
	Tasks      map[string]TaskSpec `json:"tasks"`
	Waits      map[string]any      `json:"waits"`
	Retrying   []string            `json:"retrying"`
}

// Invocation is what the host tells hooks about a Task's Lambda call.
type Invocation struct {
	Execution string
	State     string
	Function  string
	Payload   []byte
}

// Tokens is the task-token book the host consults for callback tasks.
type Tokens interface {
	// Register opens a token for a callback task.
	Register(execution, state, token string, timeout, heartbeat time.Duration)
	// Await waits on the scheduler until the token is answered or times
	// out.
	Await(ctx context.Context, execution, token string) TokenOutcome
}

// TokenOutcome is how a callback task ended.
type TokenOutcome struct {
	Status string `json:"status"` // success, failure, timeout, heartbeat-timeout
	Output string `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
	Cause  string `json:"cause,omitempty"`
}

// Host serves step handlers over the Lambda Invoke API on loopback, and the
// runner's requests for its job, for simulated sleep and for task tokens.
type Host struct {
	// Around, when set, wraps each invocation: it may change the context,
	// fail the invocation (fault injection) or act on its result.
	Around func(ctx context.Context, inv Invocation, invoke func(context.Context) ([]byte, error)) ([]byte, error)
	// Timeout bounds each invocation, as a function's timeout does.
	Timeout func(function string) time.Duration
	// SFN, when set, answers the Step Functions API on "/" for clients
	// (the CLI) pointed at the host.
	SFN awsapi.SFN
	// Doctor, when set, serves POST /greenlight/doctor: greenlight
	// doctor's checks against the simulated account.
	Doctor func(ctx context.Context) (any, error)
	// Discover, when set, serves POST /greenlight/init: greenlight init's
	// read-only discovery of the live side in the simulated account.
	Discover func(ctx context.Context, from discover.From) (any, error)
	// Advance, when set, moves the simulated clock by hand (POST
	// /greenlight/clock with advanceSeconds): `greenlight local --serve`.
	Advance func(d time.Duration) (any, error)
	// Deliver, when set, serves POST /greenlight/deliver: the S3 Object
	// Created event of an artifact `greenlight release --local` uploaded,
	// which on AWS EventBridge delivers.
	Deliver func(ctx context.Context, key, versionID string, size int64) (any, error)
	// Page, when set, serves ApprovalPath as the approval page's function
	// URL does: any method, the request turned into the function URL's
	// event and its response back (see servePage).
	Page func(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error)
	// Links, when set, serves POST /greenlight/approval-links: the approve
	// and reject links of a release that waits, for `greenlight status
	// --local`.
	Links func(ctx context.Context, releaseID string) (any, error)

	handlers  map[string]lambda.Handler
	scheduler *Scheduler
	tokens    Tokens
	log       *slog.Logger

	mu   sync.Mutex
	jobs map[string]*Job

	srv *http.Server
	url string
}

// NewHost serves handlers (name → func(ctx, In) (Out, error)).
func NewHost(handlers map[string]any, scheduler *Scheduler, tokens Tokens, log *slog.Logger) *Host {
	h := &Host{
		handlers:  map[string]lambda.Handler{},
		scheduler: scheduler,
		tokens:    tokens,
		log:       log,
		jobs:      map[string]*Job{},
	}
	for name, fn := range handlers {
		// aws-lambda-go's own wrapper: payload decoding and output encoding
		// are production's.
		h.handlers[name] = lambda.NewHandler(fn)
	}
	return h
}

// Start listens on a loopback port.
func (h *Host) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("local host: listen: %w", err)
	}
	h.url = "http://" + ln.Addr().String()
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.srv.Serve(ln) }()
	return nil
}

// URL is the host's base URL.
func (h *Host) URL() string { return h.url }

// Close stops the server.
func (h *Host) Close() error {
	if h.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return h.srv.Shutdown(ctx)
}

// AddJob makes an execution's job available to its runner.
func (h *Host) AddJob(j *Job) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.jobs[j.Name] = j
}

func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == ApprovalPath && h.Page != nil {
		h.servePage(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20)) // Lambda's synchronous payload limit
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	exec := r.Header.Get("X-Greenlight-Execution")
	w.Header().Set("Content-Type", "application/json")
	path := r.URL.Path
	switch {
	case path == "/" && strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.") && h.SFN != nil:
		serveSFN(w, r, body, h.SFN)
	case strings.HasPrefix(path, "/2015-03-31/functions/") && strings.HasSuffix(path, "/invocations"):
		fn := strings.TrimSuffix(strings.TrimPrefix(path, "/2015-03-31/functions/"), "/invocations")
		h.invoke(w, r.Context(), Invocation{Execution: exec, State: r.Header.Get("X-Greenlight-State"), Function: handlerOf(fn), Payload: body})
	case path == "/greenlight/deliver" && h.Deliver != nil:
		var req struct {
			Key       string `json:"key"`
			VersionID string `json:"versionId"`
			Size      int64  `json:"size"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Key == "" {
			http.Error(w, "want {key, versionId, size}", http.StatusBadRequest)
			return
		}
		out, err := h.Deliver(r.Context(), req.Key, req.VersionID, req.Size)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		h.reply(w, out)
	case path == "/greenlight/approval-links" && h.Links != nil:
		var req struct {
			Release string `json:"release"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Release == "" {
			http.Error(w, "want {release}", http.StatusBadRequest)
			return
		}
		out, err := h.Links(r.Context(), req.Release)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		h.reply(w, out)
	case path == "/greenlight/doctor" && h.Doctor != nil:
		out, err := h.Doctor(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		h.reply(w, out)
	case path == "/greenlight/init" && h.Discover != nil:
		var from discover.From
		if err := json.Unmarshal(body, &from); err != nil {
			http.Error(w, "want {elasticIp | instance | listener}", http.StatusBadRequest)
			return
		}
		out, err := h.Discover(r.Context(), from)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		h.reply(w, out)
	case path == "/greenlight/clock":
		var req struct {
			// AdvanceSeconds, when above 0, moves the clock (local --serve).
			AdvanceSeconds float64 `json:"advanceSeconds"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "want {} or {advanceSeconds}", http.StatusBadRequest)
			return
		}
		if req.AdvanceSeconds == 0 {
			h.reply(w, map[string]time.Time{"now": h.scheduler.Now().UTC()})
			return
		}
		if h.Advance == nil {
			http.Error(w, "this local environment moves its clock with its release only: start one that stays up with `greenlight local --serve`", http.StatusConflict)
			return
		}
		out, err := h.Advance(time.Duration(req.AdvanceSeconds * float64(time.Second)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		h.reply(w, out)
	case path == "/greenlight/job":
		h.mu.Lock()
		j, ok := h.jobs[exec]
		h.mu.Unlock()
		if !ok {
			http.Error(w, "no job for execution "+exec, http.StatusNotFound)
			return
		}
		h.reply(w, j)
	case path == "/greenlight/sleep":
		var req struct {
			Seconds float64 `json:"seconds"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := h.scheduler.Sleep(r.Context(), exec, time.Duration(req.Seconds*float64(time.Second))); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		h.reply(w, map[string]any{})
	case path == "/greenlight/tokens":
		var req struct {
			Token            string `json:"token"`
			State            string `json:"state"`
			TimeoutSeconds   int    `json:"timeoutSeconds"`
			HeartbeatSeconds int    `json:"heartbeatSeconds"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.tokens.Register(exec, req.State, req.Token, time.Duration(req.TimeoutSeconds)*time.Second, time.Duration(req.HeartbeatSeconds)*time.Second)
		h.reply(w, map[string]any{})
	case strings.HasPrefix(path, "/greenlight/tokens/") && strings.HasSuffix(path, "/await"):
		token := strings.TrimSuffix(strings.TrimPrefix(path, "/greenlight/tokens/"), "/await")
		h.reply(w, h.tokens.Await(r.Context(), exec, token))
	default:
		http.Error(w, "no such endpoint "+path, http.StatusNotFound)
	}
}

// ApprovalPath is where the host serves the approval page.
const ApprovalPath = "/approval"

// servePage hands a request to the approval page as a function URL
// would. "Invoking Lambda function URLs", request and response payloads
// (/lambda/latest/dg/urls-invocation.html): header names lowercased,
// cookies in their own array, the query raw and parsed, the caller's
// address and user agent in requestContext.http; the response's cookies
// become Set-Cookie headers. A body whose content type is not text comes
// base64-encoded (isBase64Encoded), as a form post does: the page must
// decode it (LeanerCloud/CUDly#1483 met this on AWS).
func (h *Host) servePage(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := events.LambdaFunctionURLRequest{
		Version: "2.0", RawPath: r.URL.Path, RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{}, QueryStringParameters: map[string]string{},
		RequestContext: events.LambdaFunctionURLRequestContext{
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: r.Method, Path: r.URL.Path, Protocol: r.Proto,
				SourceIP: hostOf(r.RemoteAddr), UserAgent: r.UserAgent()},
			TimeEpoch: h.scheduler.Now().UnixMilli(),
		},
	}
	for k, v := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			for _, line := range v {
				for _, c := range strings.Split(line, ";") {
					req.Cookies = append(req.Cookies, strings.TrimSpace(c))
				}
			}
			continue
		}
		req.Headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	for k, v := range r.URL.Query() {
		req.QueryStringParameters[k] = strings.Join(v, ",")
	}
	if len(body) > 0 {
		ct := r.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "text/") || strings.HasPrefix(ct, "application/json") {
			req.Body = string(body)
		} else {
			req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	resp, err := h.Page(sim.WithCaller(r.Context(), PageCaller), req)
	if err != nil {
		// Lambda answers a failed invocation behind a function URL with
		// 502 and no detail.
		h.log.Error("approval page", "error", err)
		http.Error(w, "Internal Server Error", http.StatusBadGateway)
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, resp.Body)
	}
}

// PageCaller is the caller the region records the approval page's calls
// under: its function's handler name.
const PageCaller = registry.ApprovalPage

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func (h *Host) reply(w http.ResponseWriter, v any) {
	w.Header().Set("X-Greenlight-Time", h.scheduler.Now().UTC().Format(time.RFC3339Nano))
	_ = json.NewEncoder(w).Encode(v)
}

// invoke runs one handler the way the Lambda service would and answers the
// way the Invoke API does: 200 with the output, or 200 with
// X-Amz-Function-Error and {errorType, errorMessage}.
func (h *Host) invoke(w http.ResponseWriter, ctx context.Context, inv Invocation) {
	handler, ok := h.handlers[inv.Function]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		h.reply(w, map[string]string{"Type": "User", "message": "Function not found: " + FunctionARN(inv.Function)})
		return
	}
	timeout := 30 * time.Second
	if h.Timeout != nil {
		timeout = h.Timeout(inv.Function)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(WithExecution(ctx, inv.Execution), &lambdacontext.LambdaContext{
		AwsRequestID:       fmt.Sprintf("%s-%d", inv.Function, time.Now().UnixNano()),
		InvokedFunctionArn: FunctionARN(inv.Function),
	})
	invoke := func(ctx context.Context) ([]byte, error) { return handler.Invoke(ctx, inv.Payload) }
	started := h.scheduler.Now()
	var out []byte
	var err error
	if h.Around != nil {
		out, err = h.Around(ctx, inv, invoke)
	} else {
		out, err = invoke(ctx)
	}
	// A handler that polls sleeps on the simulated clock: past its
	// function's timeout Lambda would have stopped it, whatever it went
	// on to return. Lambda, "Configure Lambda function timeout"
	// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html):
	// "Lambda runs your code for a set amount of time before timing out.
	// Timeout is the maximum amount of time in seconds that a Lambda
	// function can run."
	if ran := h.scheduler.Now().Sub(started); ran > timeout {
		out, err = nil, &TimedOut{After: timeout}
	}
	var timedOut *TimedOut
	if errors.As(err, &timedOut) {
		// A function that ran out of time returns no error type; Step
		// Functions reports it as Lambda.Unknown.
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		h.reply(w, map[string]string{"errorMessage": timedOut.Error()})
		return
	}
	if err != nil {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		h.reply(w, errorPayload(err))
		return
	}
	w.Header().Set("X-Greenlight-Time", h.scheduler.Now().UTC().Format(time.RFC3339Nano))
	_, _ = w.Write(out)
}

// TimedOut fails an invocation the way a function that hit its timeout
// fails: Lambda's error document then has no errorType.
type TimedOut struct{ After time.Duration }

func (t *TimedOut) Error() string {
	return fmt.Sprintf("Task timed out after %.2f seconds", t.After.Seconds())
}

// errorPayload is the function error document the Lambda runtime sends for
// err: aws-lambda-go names it after the error's Go type, or takes the type
// an InvokeResponse_Error carries.
func errorPayload(err error) messages.InvokeResponse_Error {
	if ive, ok := err.(messages.InvokeResponse_Error); ok {
		return ive
	}
	return messages.InvokeResponse_Error{Type: release.ErrorName(err), Message: err.Error()}
}
