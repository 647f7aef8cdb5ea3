package localrun

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
)

// The supervisor follows what the region says of an instance: the app
// runs while installed and running, comes back when its process dies
// (systemd's Restart=), stops with the app or the instance, and sees its
// data directory only while a volume is mounted and not frozen.
func TestAppsFollowTheInstance(t *testing.T) {
	tc, err := FindToolchain()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tc.Node()); err != nil {
		t.Skip("no node in node_modules: run make node")
	}
	x, err := newScriptExecutor(&sim.ModelExecutor{}, "shop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	art, err := artifact.Sample("shop", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := x.install(context.Background(), "i-1", "r1", "1.0.0", art, 8080, "/healthz"); err != nil {
		t.Fatal(err)
	}
	disks, err := sim.NewDirDisks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(disks.Dir("vol-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := newApps("shop", "/healthz", "/var/lib/shop", filepath.Dir(tc.Node()), disks, x.sandbox, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(a.Close)

	running := sim.AppState{Version: "1.0.0", Running: true, MountedVolume: "vol-1", MountPoint: "/var/lib/shop"}
	state := func(app sim.AppState, up, gone bool) []sim.InstanceApp {
		return []sim.InstanceApp{{ID: "i-1", App: app, Up: up, Gone: gone}}
	}
	ask := func(method, path string) (int, string) {
		t.Helper()
		addr, ok := a.Front("i-1")
		if !ok {
			t.Fatal("no front for i-1")
		}
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader("w-1"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}

	a.reconcile(state(running, true, false))
	if code, body := ask("GET", "/version"); code != 200 || body != "1.0.0" {
		t.Fatalf("running: %d %q", code, body)
	}
	if code, _ := ask("POST", "/write"); code != 201 {
		t.Errorf("a write with the volume mounted: %d, want 201", code)
	}
	if ids, err := disks.VolumeWriteIDs("vol-1"); err != nil || len(ids) != 1 || ids[0] != "w-1" {
		t.Errorf("the volume holds %v (%v), want the write", ids, err)
	}

	frozen := running
	frozen.Frozen = true
	a.reconcile(state(frozen, true, false))
	if code, _ := ask("POST", "/write"); code != 503 {
		t.Errorf("a write while frozen: %d, want 503 (no data directory)", code)
	}

	// The process dies: the next reconcile starts another.
	pids := a.started()
	if err := syscall.Kill(pids[len(pids)-1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.reconcile(state(running, true, false))
		if code, body := ask("GET", "/version"); code == 200 && body == "1.0.0" && len(a.started()) == len(pids)+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app was not restarted: started %v", a.started())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The app stops (systemctl stop): the front stays and answers 502.
	stopped := running
	stopped.Running = false
	a.reconcile(state(stopped, true, false))
	if code, _ := ask("GET", "/version"); code != 502 {
		t.Errorf("the app stopped: %d, want nginx's 502", code)
	}

	// The instance terminates: nothing of it remains.
	a.reconcile(state(running, false, true))
	if _, ok := a.Front("i-1"); ok {
		t.Error("a terminated instance still has a front")
	}
	for _, pid := range a.started() {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d outlived its instance (%v)", pid, err)
		}
	}
}
