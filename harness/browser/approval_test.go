package browser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/release"
)

// TestApproveAndRejectInABrowser: a person opens the notification's
// approve link, sees the version and the smoke tests, presses the button,
// and the release is Released; another opens a reject link, writes a
// reason, presses the button, and the release is rolled back. Opening the
// link again afterwards says it was answered.
func TestApproveAndRejectInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and runs two releases")
	}
	asked := make(chan string, 1)
	env := localrun.NewTestEnv(t, localrun.Options{Approve: localrun.ApprovePrompt, OnApproval: func(id string) { asked <- id }}, nil)
	browse := chromium(t)
	shots := screenshots(t)

	cases := []struct {
		version, action, reason, want, outcome string
	}{
		{"1.1.0", "approve", "", release.Released, "Approved"},
		{"1.2.0", "reject", "checkout is broken", release.RolledBack, "Rejected"},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		started, err := env.Start(ctx, c.version, nil)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-asked:
		case <-ctx.Done():
			t.Fatalf("%s never waited for approval", c.version)
		}
		links, err := env.ApprovalLinks(ctx, started.ReleaseID)
		if err != nil {
			t.Fatal(err)
		}
		link := links.Approve
		if c.action == "reject" {
			link = links.Reject
		}
		tab, closeTab := chromedp.NewContext(browse)
		do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
			t.Helper()
			if err := chromedp.Do(tab, steps...); err != nil {
				t.Fatalf("%s %s in Chromium: %s: %v", c.action, c.version, what, err)
			}
		}
		text := func() string {
			t.Helper()
			s, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("body")))
			if err != nil {
				t.Fatalf("read the page: %v", err)
			}
			return s
		}
		screenshot := func(name string) {
			t.Helper()
			png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot %s: %v", name, err)
			}
			shots.save(name, png)
		}
		do("open the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("answer")))
		page := text()
		screenshot(c.action + "-confirm.png")
		if c.reason != "" {
			do("write the reason", chromedp.SendKeys(chromedp.ID("reason"), c.reason))
		}
		do("press the button", chromedp.Click(chromedp.ID("answer")), chromedp.WaitVisible(chromedp.ID("outcome")))
		outcome := text()
		screenshot(c.action + "-outcome.png")
		// The same link once more, as someone else in the mail thread.
		do("open the link again", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("refusal")))
		again := text()
		screenshot(c.action + "-again.png")
		closeTab()
		for _, want := range []string{c.version, started.ReleaseID, "home page", "left"} {
			if !strings.Contains(page, want) {
				t.Errorf("the %s confirm page does not show %q:\n%s", c.action, want, page)
			}
		}
		if !strings.Contains(outcome, c.outcome) || (c.reason != "" && !strings.Contains(outcome, c.reason)) {
			t.Errorf("the outcome page:\n%s", outcome)
		}
		if !strings.Contains(again, "Already answered") {
			t.Errorf("the link opened after its answer:\n%s", again)
		}
		res, err := env.Follow(ctx, started, time.Now())
		cancel()
		if err != nil || res.Status != c.want {
			t.Fatalf("%s after the %s in the browser: %+v %v, want %s", c.version, c.action, res, err, c.want)
		}
	}
}

// chromium starts the machine's headless Chromium for the test.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("no Chromium on PATH: `make tools` installs Debian's chromium package (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// Containers run tests as root, where Chromium's sandbox cannot
		// start, with a small /dev/shm.
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
		// A phone's width: approvers read the notification there.
		chromedp.WindowSize(412, 915),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	if err := chromedp.Do(browser); err != nil {
		cancelAlloc()
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	return browser
}

// shotDir is where the test leaves its screenshots: build/screenshots in
// the checkout.
type shotDir string

func screenshots(t *testing.T) shotDir {
	t.Helper()
	tc, err := localrun.FindToolchain()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tc.Root, "build", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return shotDir(dir)
}

func (d shotDir) save(name string, png []byte) {
	if len(png) > 0 {
		_ = os.WriteFile(filepath.Join(string(d), name), png, 0o644)
	}
}
