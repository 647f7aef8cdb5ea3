package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/greenlight/greenlight/lambdas/registry"
)

// ColdStart is one handler's cold start under the Lambda Runtime Interface
// Emulator, the median of Repeats fresh starts.
type ColdStart struct {
	Handler string `json:"handler"`
	// InitMs is the emulator's INIT REPORT: from starting the bootstrap
	// process until it asks for its first event (Go runtime start, handler
	// lookup, AWS SDK configuration).
	InitMs float64 `json:"initMs"`
	// FirstInvokeMs is the round trip of the first invoke as its caller
	// sees it, init included.
	FirstInvokeMs float64 `json:"firstInvokeMs"`
	// HandlerMs is the first invoke's own run (the emulator's INVOKE
	// RTDONE duration): the handler failing fast without AWS; -1 when the
	// runtime died during the invoke.
	HandlerMs float64 `json:"handlerMs"`
	// Answer is the first invoke's error type (a dummy event and no AWS:
	// the handler is expected to fail fast).
	Answer string `json:"answer"`
}

// ColdStarts is the cold-start report.
type ColdStarts struct {
	Emulator string `json:"emulator"`
	// Arch is the architecture measured: the host's. The shipped
	// bootstrap is arm64; the measured one is the same source built with
	// the same flags for the host.
	Arch    string      `json:"arch"`
	Repeats int         `json:"repeats"`
	Results []ColdStart `json:"results"`
	// ZipBytes is the shipped asset (arm64) zipped; BinaryBytes the
	// shipped binary, MeasuredBinaryBytes the measured one.
	ZipBytes            int64 `json:"zipBytes"`
	BinaryBytes         int64 `json:"binaryBytes"`
	MeasuredBinaryBytes int64 `json:"measuredBinaryBytes"`
	// InitUSDPerRelease prices one cold start of every function a release
	// invokes (provided.al2023 bills INIT) at the median init.
	InitUSDPerRelease float64 `json:"initUsdPerRelease"`
}

const coldRepeats = 5

// buildEmulator installs the emulator's command from the module proxy
// into a temporary directory (nothing lands in the repository).
func buildEmulator(ctx context.Context, module, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "install", module)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	cmd.Dir = dir // outside the module: go install pkg@version
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %w\n%s", module, err, out)
	}
	return filepath.Join(dir, "aws-lambda-rie"), nil
}

// measureColdStarts starts bootstrap under the emulator afresh for each
// handler, coldRepeats times, and invokes it once with a dummy event.
func measureColdStarts(ctx context.Context, emulator, bootstrap string, memoryMB map[string]float64, progress func(string)) (ColdStarts, error) {
	rep := ColdStarts{Arch: runtime.GOARCH, Repeats: coldRepeats}
	for _, h := range registry.Names() {
		progress("cold start of " + h)
		var runs []ColdStart
		for range coldRepeats {
			r, err := coldStart(ctx, emulator, bootstrap, h)
			// A port found free can be taken by another process before
			// the emulator binds it: that start is tried again.
			for try := 1; err != nil && strings.Contains(err.Error(), "address already in use") && try < 3; try++ {
				r, err = coldStart(ctx, emulator, bootstrap, h)
			}
			if err != nil {
				return rep, fmt.Errorf("cold start of %s: %w", h, err)
			}
			runs = append(runs, r)
		}
		rep.Results = append(rep.Results, ColdStart{
			Handler:       h,
			InitMs:        median(runs, func(c ColdStart) float64 { return c.InitMs }),
			FirstInvokeMs: median(runs, func(c ColdStart) float64 { return c.FirstInvokeMs }),
			HandlerMs:     median(runs, func(c ColdStart) float64 { return c.HandlerMs }),
			Answer:        runs[0].Answer,
		})
	}
	for _, r := range rep.Results {
		rep.InitUSDPerRelease += r.InitMs / 1000 * memoryMB[r.Handler] / 1024 * USDPerArmGBSecond
	}
	return rep, nil
}

func median(runs []ColdStart, f func(ColdStart) float64) float64 {
	var v []float64
	for _, r := range runs {
		v = append(v, f(r))
	}
	slices.Sort(v)
	return v[len(v)/2]
}

var (
	initReport   = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	invokeDone   = regexp.MustCompile(`INVOKE RTDONE\(.*duration: ([0-9.]+)ms\)`)
	invokeFailed = regexp.MustCompile(`Invoke DONE failed: (\S+)`)
	loopbackURL  = "http://127.0.0.1:1" // nothing listens: every AWS call fails at once
)

// coldStart runs one fresh emulator with the bootstrap for handler and
// invokes it once. The environment holds only dummy credentials and points
// every AWS endpoint at a closed loopback port, so nothing leaves the host.
func coldStart(ctx context.Context, emulator, bootstrap, handler string) (ColdStart, error) {
	ports, err := freePorts(2)
	if err != nil {
		return ColdStart{}, err
	}
	apiPort, rtPort := ports[0], ports[1]
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, emulator,
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", rtPort),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = []string{
		"_HANDLER=" + handler,
		"AWS_LAMBDA_FUNCTION_NAME=" + handler,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30",
		"AWS_REGION=eu-west-1",
		"AWS_ACCESS_KEY_ID=AKIDGREENLIGHTBENCH",
		"AWS_SECRET_ACCESS_KEY=greenlight-bench-dummy-secret",
		"AWS_ENDPOINT_URL=" + loopbackURL,
		"AWS_MAX_ATTEMPTS=1",
		"AWS_EC2_METADATA_DISABLED=true",
		"GREENLIGHT_APP=shop",
		"GREENLIGHT_TABLE=greenlight-shop-ledger",
		"GREENLIGHT_TOPIC_ARN=arn:aws:sns:eu-west-1:123456789012:greenlight-shop",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return ColdStart{}, err
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	if err := waitForPort(ctx, apiPort); err != nil {
		return ColdStart{}, fmt.Errorf("%w\n%s", err, logs.String())
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", apiPort)
	start := time.Now()
	resp, err := http.Post(url, "application/json", strings.NewReader("{}"))
	if err != nil {
		return ColdStart{}, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := ColdStart{Handler: handler, FirstInvokeMs: float64(time.Since(start).Microseconds()) / 1000}
	var fe struct {
		Type string `json:"errorType"`
	}
	if json.Unmarshal(body, &fe) == nil && fe.Type != "" {
		out.Answer = fe.Type
	} else {
		out.Answer = "ok"
	}
	// The emulator logs its reports as the invoke ends; give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		text := logs.String()
		i, d, f := initReport.FindStringSubmatch(text), invokeDone.FindStringSubmatch(text), invokeFailed.FindStringSubmatch(text)
		if i != nil && d != nil {
			out.InitMs, _ = strconv.ParseFloat(i[1], 64)
			out.HandlerMs, _ = strconv.ParseFloat(d[1], 64)
			return out, nil
		}
		if i != nil && f != nil {
			// The runtime died during the invoke (a panic): the emulator
			// reports no invoke duration.
			out.InitMs, _ = strconv.ParseFloat(i[1], 64)
			out.HandlerMs = -1
			out.Answer = f[1]
			if strings.Contains(text, "resulted in a panic") {
				out.Answer += " (panic)"
			}
			return out, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return out, fmt.Errorf("the emulator reported no INIT REPORT and INVOKE RTDONE:\n%s", lastLines(logs.String(), 20))
}

// freePorts finds n distinct loopback ports free now, holding each open
// until all are found so that none is handed out twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitForPort(ctx context.Context, port int) error {
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the emulator never listened on port %d", port)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
