package sim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Dynamo is dynalite, a DynamoDB implementation (npm), running as a child
// process on a free loopback port, with the real SDK client pointed at
// it: condition expressions, queries and errors are DynamoDB's, not ours.
// The process dies with its parent (Pdeathsig on Linux) and Close kills
// its whole process group.
type Dynamo struct {
	endpoint string
	client   *dynamodb.Client
	cmd      *exec.Cmd
	exited   chan struct{}
	output   *tailBuffer
	once     sync.Once
}

// ModuleRoot is the folder holding go.mod, found by walking up from the
// working directory: where node_modules lives.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("sim: no go.mod above the working directory")
		}
		dir = parent
	}
}

// StartDynamo starts dynalite with the repository's pinned Node
// (node_modules/.bin/node and node_modules/.bin/dynalite, installed by
// `make node`) and waits until it answers ListTables. ctx bounds the
// start only. Close it when done.
func StartDynamo(ctx context.Context) (*Dynamo, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	node := filepath.Join(root, "node_modules", ".bin", "node")
	script := filepath.Join(root, "node_modules", ".bin", "dynalite")
	for _, p := range []string{node, script} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("sim: %s is missing: run make node", p)
		}
	}
	var lastErr error
	// A free port can be taken between choosing it and dynalite binding
	// it; another try picks another port.
	for attempt := 0; attempt < 3; attempt++ {
		d, err := startDynamo(ctx, node, script)
		if err == nil {
			return d, nil
		}
		lastErr = err
		if ctx.Err() != nil || !strings.Contains(err.Error(), "EADDRINUSE") {
			break
		}
	}
	return nil, lastErr
}

func startDynamo(ctx context.Context, node, script string) (*Dynamo, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(node, script, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		// Tables are ACTIVE at once: tests do not wait on real time.
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.SysProcAttr = childProcAttr()
	out := &tailBuffer{limit: 8 << 10}
	cmd.Stderr = out
	// Our own pipe rather than StdoutPipe: the reader below may run past
	// Wait, which closes StdoutPipe's end under it.
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("sim: start dynalite: %w", err)
	}
	d := &Dynamo{endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, exited: make(chan struct{}), output: out}
	ready := make(chan struct{})
	go func() {
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			out.Write(append(sc.Bytes(), '\n'))
			if !signalled && strings.Contains(sc.Text(), "listening at") {
				signalled = true
				close(ready)
			}
		}
	}()
	go func() {
		cmd.Wait()
		close(d.exited)
	}()
	d.client = dynamodb.New(dynamodb.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(d.endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("sim", "sim", ""),
	})

	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case <-ready:
	case <-d.exited:
		return nil, fmt.Errorf("sim: dynalite exited before listening: %s", strings.TrimSpace(out.String()))
	case <-ctx.Done():
		d.Close()
		return nil, fmt.Errorf("sim: dynalite did not start: %w", ctx.Err())
	case <-timeout.C:
		d.Close()
		return nil, fmt.Errorf("sim: dynalite did not listen within 30s: %s", strings.TrimSpace(out.String()))
	}
	if _, err := d.client.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		d.Close()
		return nil, fmt.Errorf("sim: dynalite does not answer ListTables: %w", err)
	}
	return d, nil
}

// NewDynamo starts dynalite for a test and stops it when the test ends,
// whether it passed or failed.
func NewDynamo(tb testing.TB) *Dynamo {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := StartDynamo(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// Client is the real SDK client for dynalite.
func (d *Dynamo) Client() *dynamodb.Client { return d.client }

// CreateTable creates a table and waits until it is ACTIVE, as code
// against DynamoDB must: a table is CREATING for a moment and answers
// ResourceNotFoundException until then. dynalite here makes it ACTIVE
// within a tick, so the waiter's first or second look finds it.
func (d *Dynamo) CreateTable(ctx context.Context, in *dynamodb.CreateTableInput) error {
	if _, err := d.client.CreateTable(ctx, in); err != nil {
		return err
	}
	w := dynamodb.NewTableExistsWaiter(d.client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 5*time.Millisecond, 50*time.Millisecond
	})
	return w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, 30*time.Second)
}

// Endpoint is dynalite's URL.
func (d *Dynamo) Endpoint() string { return d.endpoint }

// PID is the dynalite process id.
func (d *Dynamo) PID() int { return d.cmd.Process.Pid }

// Close stops dynalite and its process group: SIGTERM, then SIGKILL if it
// has not exited within five seconds. It waits for the exit and is safe
// to call more than once.
func (d *Dynamo) Close() error {
	d.once.Do(func() {
		pgid := -d.cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-d.exited
		}
	})
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last bytes of a process's output for error
// messages.
type tailBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.limit; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
