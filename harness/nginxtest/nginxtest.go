// Package nginxtest runs a real nginx on loopback with greenlight's
// maintenance snippet (instance/nginx), for the tests that check the
// snippet itself and the Go fronts that copy its behaviour. Tests skip
// when nginx is not installed (`make tools` installs Debian's
// nginx-light).
package nginxtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greenlight/greenlight/instance"
)

// Config is one nginx server block as instance/README.md documents it:
// the snippet included for App, then location / proxying to Upstream.
type Config struct {
	// Root stands in for the instance's file system: the snippet's
	// absolute paths (/var/lib/greenlight, /usr/share/greenlight) and
	// nginx's own files are moved under it.
	Root string
	// App is the server block's $greenlight_app.
	App string
	// Upstream is proxy_pass's URL, e.g. "http://127.0.0.1:8080".
	Upstream string
	// Proxy are extra directives for location /, each without its ";".
	Proxy []string
}

// Flag is where the moved snippet looks for app's maintenance flag.
func (c Config) Flag() string {
	return filepath.Join(c.Root, "var/lib/greenlight", c.App, "maintenance")
}

// Start runs nginx with c until the test ends and returns its
// host:port. It skips the test when nginx is not installed.
func Start(t testing.TB, c Config) string {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx, err = exec.LookPath("/usr/sbin/nginx")
	}
	if err != nil {
		t.Skip("nginx is not installed")
	}
	path := func(abs string) string { return filepath.Join(c.Root, abs) }
	snippet, err := instance.Assets.ReadFile("nginx/greenlight-maintenance.conf")
	if err != nil {
		t.Fatal(err)
	}
	page, err := instance.Assets.ReadFile("nginx/maintenance.html")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer(
		"/var/lib/greenlight/", path("/var/lib/greenlight")+"/",
		"/usr/share/greenlight", path("/usr/share/greenlight"),
	).Replace(string(snippet))
	write(t, path("/etc/nginx/greenlight-maintenance.conf"), conf)
	write(t, path("/usr/share/greenlight/maintenance.html"), string(page))

	// A port nobody holds a moment ago; nginx binds it itself.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tmp := path("/var/lib/nginx")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	var temps strings.Builder
	for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s/%s;\n", k, tmp, k)
	}
	var proxy strings.Builder
	for _, d := range c.Proxy {
		fmt.Fprintf(&proxy, " %s;", d)
	}
	write(t, path("/etc/nginx/nginx.conf"), fmt.Sprintf(`daemon off;
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
        set $greenlight_app %s;
        include greenlight-maintenance.conf;
        location / { proxy_pass %s;%s }
    }
}
`, tmp, temps.String(), addr, c.App, c.Upstream, proxy.String()))

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, nginx, "-p", path("/etc/nginx"), "-c", path("/etc/nginx/nginx.conf"), "-e", "stderr")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Log("nginx:\n" + stderr.String())
		}
	})
	// nginx says nothing when it is ready, and it is not this program's
	// code: look at the condition itself (the port accepts) until it
	// holds, nginx exits, or a generous deadline passes. The retry
	// interval only bounds how soon after nginx listens the test goes on.
	ready, cancelReady := context.WithTimeout(ctx, 30*time.Second)
	defer cancelReady()
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	for {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return addr
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("nginx exited: %v\n%s", err, stderr.String())
		case <-ready.Done():
			t.Fatal("nginx did not listen within 30s")
		case <-retry.C:
		}
	}
}

func write(t testing.TB, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
