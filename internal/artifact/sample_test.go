//go:build unix

package artifact_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/greenlight/greenlight/internal/artifact"
)

const version = "1.2.3"

// unpack writes Sample("shop", version) into a new directory, as the
// deploy script would, and returns it.
func unpack(t *testing.T) string {
	t.Helper()
	b, err := artifact.Sample("shop", version)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode))
		case tar.TypeReg:
			var body []byte
			if body, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, body, os.FileMode(h.Mode))
			}
		default:
			t.Fatalf("unexpected entry %s of type %q", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// app is one running sample app.
type app struct {
	cmd    *exec.Cmd
	base   string     // http://host:port
	logged string     // the start line
	exited chan error // receives Wait's result
}

var listening = regexp.MustCompile(`^\S+ ` + regexp.QuoteMeta(version) + ` listening on (\S+) \(data: (.*)\)$`)

// start runs the unpacked sample's greenlight/run with env (PORT=0 unless
// env sets it) and waits until its health path answers.
func start(t *testing.T, env ...string) *app {
	t.Helper()
	cmd := command(t, append([]string{"PORT=0"}, env...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &app{cmd: cmd, exited: make(chan error, 1)}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-a.exited
	})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for n := 0; sc.Scan(); n++ { // read on, so the app never blocks on stderr
			if n == 0 {
				first <- sc.Text()
			}
		}
		close(first)
		a.exited <- cmd.Wait()
	}()
	select {
	case a.logged = <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("the app logged nothing within 5s")
	}
	m := listening.FindStringSubmatch(a.logged)
	if m == nil {
		t.Fatalf("start line %q, want %q", a.logged, listening)
	}
	a.base = "http://" + m[1]
	health := "/healthz"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "GREENLIGHT_HEALTH_PATH="); ok {
			health = v
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(a.base + health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%s did not answer 200 within 5s: %v", a.base, health, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// do sends a request on a new connection and returns the status and body;
// every answer must carry the version header.
func (a *app) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-App-Version"); got != version {
		t.Errorf("%s %s answered %d with X-App-Version %q, want %q", method, path, resp.StatusCode, got, version)
	}
	return resp.StatusCode, string(b)
}

// expect checks a request's status and that its body contains want.
func (a *app) expect(t *testing.T, method, path, body string, status int, want string) {
	t.Helper()
	got, b := a.do(t, method, path, body)
	if got != status || !strings.Contains(b, want) {
		t.Errorf("%s %s: %d %q, want %d and a body containing %q", method, path, got, b, status, want)
	}
}

// exit waits for the process to end and returns its exit status.
func (a *app) exit(t *testing.T) int {
	t.Helper()
	select {
	case err := <-a.exited:
		a.exited <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(5 * time.Second):
		t.Fatal("the app did not exit within 5s")
		return -1
	}
}

func TestSampleApp(t *testing.T) {
	data := t.TempDir()
	fault := filepath.Join(t.TempDir(), "fault")
	a := start(t, "GREENLIGHT_DATA_DIR="+data, "GREENLIGHT_FAULT_FILE="+fault, "GREENLIGHT_HEALTH_PATH=/up")
	if !strings.HasPrefix(a.logged, "shop 1.2.3 listening on 127.0.0.1:") || !strings.HasSuffix(a.logged, "(data: "+data+")") {
		t.Errorf("start line %q", a.logged)
	}
	log := filepath.Join(data, "writes.log")

	t.Run("endpoints", func(t *testing.T) {
		a.expect(t, "GET", "/up", "", 200, "ok")
		a.expect(t, "GET", "/healthz", "", 404, "not found")
		a.expect(t, "GET", "/version", "", 200, version)
		a.expect(t, "GET", "/", "", 200, "<h1>shop</h1>")
		a.expect(t, "GET", "/", "", 200, version)
		a.expect(t, "GET", "/nothing", "", 404, "not found")
		a.expect(t, "GET", "/write", "", 404, "not found")
		a.expect(t, "GET", "/writes/count", "", 200, "0")
	})

	t.Run("write is durable before it is acknowledged", func(t *testing.T) {
		for i, id := range []string{"w-1", "order:2.A_b"} {
			a.expect(t, "POST", "/write", id, 201, version)
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); len(lines) != i+1 || lines[i] != id {
				t.Errorf("writes.log after acknowledging %q: %q", id, b)
			}
		}
		a.expect(t, "GET", "/writes/count", "", 200, "2")
	})

	t.Run("bad write ids", func(t *testing.T) {
		a.expect(t, "POST", "/write", "", 400, "empty")
		a.expect(t, "POST", "/write", "a b", 400, "only A-Z a-z 0-9")
		a.expect(t, "POST", "/write", "w-1\n", 400, "only A-Z a-z 0-9")
		a.expect(t, "POST", "/write", "caf\u00e9", 400, "only A-Z a-z 0-9")
		a.expect(t, "POST", "/write", strings.Repeat("x", 201), 400, "longer than 200 bytes")
		a.expect(t, "POST", "/write", strings.Repeat("x", 200), 201, version)
		a.expect(t, "GET", "/writes/count", "", 200, "3")
	})

	t.Run("errors fault", func(t *testing.T) {
		if err := os.WriteFile(fault, []byte("errors\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 6; i++ {
			a.expect(t, "GET", "/up", "", 200, "ok")
			want := 200
			if i%2 == 0 {
				want = 500
			}
			if got, b := a.do(t, "GET", "/version", ""); got != want {
				t.Errorf("request %d after the fault appeared: %d %q, want %d", i, got, b, want)
			}
		}
		// A failed write is not stored.
		a.expect(t, "POST", "/write", "w-odd", 201, version)
		a.expect(t, "POST", "/write", "w-even", 500, "injected fault")
		if err := os.Remove(fault); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			a.expect(t, "GET", "/version", "", 200, version)
		}
		a.expect(t, "GET", "/writes/count", "", 200, "4")
		// The count restarts when the fault appears again.
		if err := os.WriteFile(fault, []byte("errors"), 0o644); err != nil {
			t.Fatal(err)
		}
		a.expect(t, "GET", "/version", "", 200, version)
		a.expect(t, "GET", "/version", "", 500, "injected fault")
		if err := os.Remove(fault); err != nil {
			t.Fatal(err)
		}
	})

	if os.Geteuid() != 0 {
		t.Run("read-only data directory", func(t *testing.T) {
			if err := os.Chmod(data, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(data, 0o755) })
			before, _ := os.ReadFile(log)
			a.expect(t, "POST", "/write", "w-frozen", 503, "read-only")
			if after, _ := os.ReadFile(log); !bytes.Equal(before, after) {
				t.Errorf("a refused write changed writes.log: %q", after)
			}
			a.expect(t, "GET", "/writes/count", "", 200, "4")
		})
	}

	t.Run("crash fault", func(t *testing.T) {
		if err := os.WriteFile(fault, []byte("crash"), 0o644); err != nil {
			t.Fatal(err)
		}
		a.expect(t, "GET", "/up", "", 200, "ok")
		req, _ := http.NewRequest("GET", a.base+"/version", nil)
		req.Close = true
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the crashing request was answered %d", resp.StatusCode)
		}
		if code := a.exit(t); code != 70 {
			t.Errorf("exit status %d, want 70", code)
		}
	})
}

func TestSampleAppWithoutData(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "not-mounted")
	for _, tc := range []struct {
		name, env, logged, why string
	}{
		{"unset", "GREENLIGHT_DATA_DIR=", "none", "GREENLIGHT_DATA_DIR is not set"},
		// Root ignores a read-only directory; a missing one stops it too.
		{"missing", "GREENLIGHT_DATA_DIR=" + missing, missing, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := start(t, tc.env)
			if !strings.HasSuffix(a.logged, "(data: "+tc.logged+")") {
				t.Errorf("start line %q", a.logged)
			}
			a.expect(t, "POST", "/write", "w-1", 503, tc.why)
			a.expect(t, "GET", "/writes/count", "", 503, tc.why)
			a.expect(t, "GET", "/healthz", "", 200, "ok")
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the app created the missing data directory: %v", err)
			}
		})
	}
}

func TestSampleAppSettings(t *testing.T) {
	t.Parallel()
	host := "127.0.0.1"
	if runtime.GOOS == "linux" { // all of 127/8 is loopback there
		host = "127.0.0.2"
	}
	a := start(t, "GREENLIGHT_APP=storefront", "GREENLIGHT_LISTEN_HOST="+host)
	if want := "storefront 1.2.3 listening on " + host + ":"; !strings.HasPrefix(a.logged, want) {
		t.Errorf("start line %q, want it to start %q", a.logged, want)
	}
	a.expect(t, "GET", "/", "", 200, "<h1>storefront</h1>")
}

func TestSampleAppStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	a := start(t, "GREENLIGHT_DATA_DIR="+data)
	addr := strings.TrimPrefix(a.base, "http://")
	// A request in flight: Node answers 100 Continue once its handler has
	// the request, and the body follows only after SIGTERM.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "POST /write HTTP/1.1\r\nHost: app\r\nContent-Length: 8\r\nExpect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q, %v", line, err)
	}
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Once it stops accepting, new connections are refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 5s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := io.WriteString(conn, "w-inflig"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("the in-flight request was not answered: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("X-App-Version") != version {
		t.Errorf("in-flight write answered %d, version %q", resp.StatusCode, resp.Header.Get("X-App-Version"))
	}
	if b, err := os.ReadFile(filepath.Join(data, "writes.log")); err != nil || string(b) != "w-inflig\n" {
		t.Errorf("writes.log %q, %v", b, err)
	}
	if code := a.exit(t); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}

// command is the unpacked sample's greenlight/run, in its directory, with
// node's directory on PATH and env (later entries win); the test skips
// without node.
func command(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	dir := unpack(t)
	cmd := exec.Command(filepath.Join(dir, "greenlight", "run"))
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + filepath.Dir(node) + ":/usr/bin:/bin"}, env...)
	return cmd
}

func TestSampleAppRefusesABadPort(t *testing.T) {
	t.Parallel()
	out, err := command(t, "PORT=80a").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), `PORT "80a" is not a port number`) {
		t.Errorf("exit %v: %s", err, out)
	}
}

func TestSampleRunWithoutNode(t *testing.T) {
	t.Parallel()
	dir := unpack(t)
	cmd := exec.Command(filepath.Join(dir, "greenlight", "run"))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + t.TempDir()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 {
		t.Fatalf("exit %v, want status 127", err)
	}
	if !strings.Contains(stderr.String(), "the sample app needs Node.js on PATH") {
		t.Errorf("stderr %q does not name the fix", stderr.String())
	}
}

func TestSampleScriptsShellcheck(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck is not installed")
	}
	out, err := exec.Command("shellcheck", "sample/run", "sample/install").CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

func TestSampleInstallHook(t *testing.T) {
	t.Parallel()
	dir := unpack(t)
	cmd := exec.Command(filepath.Join(dir, "greenlight", "hooks", "install"))
	cmd.Dir = t.TempDir() // the hook finds its release on its own
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil || string(out) != "installed shop 1.2.3\n" {
		t.Errorf("install hook: %q, %v", out, err)
	}
}
