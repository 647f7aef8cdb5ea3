package instance_test

import (
	"github.com/greenlight/greenlight/instance"

	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The snippet and the maintenance document together, against a real
// nginx on loopback (`make test` installs Debian's nginx-light; a bare
// `go test` without nginx skips): maintenance on gives 503, Retry-After
// and the page; the app's own 503 passes through untouched; off restores
// the app.
func TestNginxMaintenancePage(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx, err = exec.LookPath("/usr/sbin/nginx")
	}
	if err != nil {
		t.Skip("nginx is not installed")
	}
	sb := box(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "app busy")
			return
		}
		fmt.Fprint(w, "app")
	}))
	defer app.Close()

	// The snippet's absolute paths, moved into the sandbox.
	snippet, _ := instance.Assets.ReadFile("nginx/greenlight-maintenance.conf")
	page, _ := instance.Assets.ReadFile("nginx/maintenance.html")
	conf := strings.NewReplacer(
		"/var/lib/greenlight/", sb.Path("/var/lib/greenlight")+"/",
		"/usr/share/greenlight", sb.Path("/usr/share/greenlight"),
	).Replace(string(snippet))
	writeFile(t, sb.Path("/etc/nginx/greenlight-maintenance.conf"), conf)
	writeFile(t, sb.Path("/usr/share/greenlight/maintenance.html"), string(page))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tmp := sb.Path("/var/lib/nginx")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	var temps strings.Builder
	for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s/%s;\n", k, tmp, k)
	}
	writeFile(t, sb.Path("/etc/nginx/nginx.conf"), fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %s/nginx.pid;
error_log stderr;
events { worker_connections 16; }
http {
    access_log off;
%s
    server {
        listen %s;
        set $greenlight_app shop;
        include greenlight-maintenance.conf;
        location / { proxy_pass %s; }
    }
}
`, tmp, temps.String(), addr, app.URL))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, nginx, "-p", sb.Path("/etc/nginx"), "-c", sb.Path("/etc/nginx/nginx.conf"), "-e", "stderr")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Log(stderr.String())
		}
	}()
	// nginx says nothing when it is ready, and it is not this program's
	// code: look at the condition itself (the port accepts) until it
	// holds, nginx exits, or a generous deadline passes. The retry
	// interval only bounds how soon after nginx listens the test goes on.
	ready, cancelReady := context.WithTimeout(ctx, 30*time.Second)
	defer cancelReady()
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("nginx exited: %v", err)
		case <-ready.Done():
			t.Fatal("nginx did not listen within 30s")
		case <-retry.C:
		}
	}

	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	maintenance := func(action string) {
		t.Helper()
		if res := run(t, sb, instance.Maintenance, map[string]string{instance.ParamApp: "shop", instance.ParamAction: action}); !res.OK() {
			t.Fatalf("maintenance %s: %s", action, res.Reason())
		}
	}

	if code, body, _ := get("/"); code != 200 || body != "app" {
		t.Errorf("before: %d %q", code, body)
	}
	if code, body, h := get("/busy"); code != 503 || body != "app busy" || h.Get("Retry-After") != "" {
		t.Errorf("the app's own 503 was changed: %d %q %v", code, body, h)
	}
	maintenance("on")
	code, body, h := get("/")
	if code != 503 || h.Get("Retry-After") != "120" || !strings.Contains(body, "be right back") || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("maintenance on: %d %v\n%s", code, h, body)
	}
	maintenance("off")
	if code, body, _ := get("/"); code != 200 || body != "app" {
		t.Errorf("after: %d %q", code, body)
	}
}
