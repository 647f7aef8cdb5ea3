package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/ledger"
)

func newLock() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Show or break the app's release lock",
		Long: `The release lock lets one release of the app run at a time: the Prepare step
takes it, and the release gives it back when it ends, however it ends. A
release uploaded while another holds it is refused (ReleaseInProgress).`,
	}
	cmd.AddCommand(newLockStatus(), newLockRelease())
	return cmd
}

// lockView is the lock as lock status prints it with --json.
type lockView struct {
	App       string     `json:"app"`
	Held      bool       `json:"held"`
	ReleaseID string     `json:"releaseId,omitempty"`
	Since     *time.Time `json:"since,omitempty"`
	// ReleaseStatus is the holder's status in the ledger; a holder that
	// has ended (or has no record) holds a stale lock.
	ReleaseStatus string `json:"releaseStatus,omitempty"`
	Stale         bool   `json:"stale"`
}

func readLock(ctx context.Context, b *backend) (lockView, error) {
	lk, held, err := b.Ledger.LockHolder(ctx, b.App)
	if err != nil {
		return lockView{}, ledgerError(b, err)
	}
	v := lockView{App: b.App, Held: held}
	if !held {
		return v, nil
	}
	since := lk.Since
	v.ReleaseID, v.Since = lk.ReleaseID, &since
	r, err := b.Ledger.Get(ctx, b.App, lk.ReleaseID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		v.ReleaseStatus, v.Stale = "unknown (no record)", true
	case err != nil:
		return v, ledgerError(b, err)
	default:
		v.ReleaseStatus, v.Stale = r.Status, ledger.Terminal(r.Status)
	}
	return v, nil
}

func newLockStatus() *cobra.Command {
	var f targetFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show who holds the release lock",
		Long: `lock status shows whether a release holds the app's release lock, which one,
since when, and where that release is. A lock held by a release that has
ended is stale: lock release --force frees it.

Exit codes: 0 shown (held or free); 3 invalid config; 4 AWS, the stack or
the local engine could not be reached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			b, err := f.open(ctx)
			if err != nil {
				return err
			}
			v, err := readLock(ctx, b)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return writeJSON(out, v)
			}
			if !v.Held {
				fmt.Fprintf(out, "the release lock of %s is free: the next upload starts a release\n", b.App)
				return nil
			}
			now := b.Now(ctx)
			fmt.Fprintf(out, "the release lock of %s is held by %s since %s (%s)\n", b.App, v.ReleaseID, stamp(*v.Since), ago(now, *v.Since))
			if v.Stale {
				fmt.Fprintf(out, "  STALE: that release is %s but still holds the lock; free it with:\n    greenlight lock release --force%s\n", v.ReleaseStatus, b.Hint)
			} else {
				fmt.Fprintf(out, "  that release is %s: greenlight status %s%s\n", v.ReleaseStatus, v.ReleaseID, b.Hint)
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newLockRelease() *cobra.Command {
	var f targetFlags
	var force, yes bool
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Break the release lock (--force), when a release left it behind",
		Long: `lock release --force breaks the app's release lock, whichever release holds
it. Releases free the lock themselves when they end, so this is only for a
lock a release left behind (lock status says STALE). Breaking the lock of a
release that still runs lets a second release start alongside it.

Without --force it explains and changes nothing. On a terminal it asks for
confirmation; elsewhere (scripts, CI) --yes confirms.

Exit codes: 0 lock broken; 1 not confirmed; 2 without --force, or no
terminal to confirm on and no --yes; 3 invalid config; 4 AWS, the stack
or the local engine could not be reached; 5 the lock is free.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			b, err := f.open(ctx)
			if err != nil {
				return err
			}
			v, err := readLock(ctx, b)
			if err != nil {
				return err
			}
			if !v.Held {
				return withCode(exitPending, fmt.Errorf("the release lock of %s is free: nothing to release", b.App))
			}
			holder := fmt.Sprintf("%s (%s, holding it since %s)", v.ReleaseID, v.ReleaseStatus, stamp(*v.Since))
			if !force {
				return withCode(exitUsage, fmt.Errorf("the release lock of %s is held by %s.\n"+
					"Releases free the lock when they end; breaking it while %s runs lets a second release start alongside it.\n"+
					"If it is stuck (see greenlight status %s%s), break it with:\n  greenlight lock release --force%s",
					b.App, holder, v.ReleaseID, v.ReleaseID, b.Hint, b.Hint))
			}
			errOut := cmd.ErrOrStderr()
			if !yes {
				if !isTerminal(cmd.InOrStdin()) {
					return withCode(exitUsage, fmt.Errorf("breaking the lock held by %s needs confirmation: no terminal to ask on, so add --yes", v.ReleaseID))
				}
				if !v.Stale {
					fmt.Fprintf(errOut, "%s has not ended: breaking its lock lets a second release start alongside it.\n", v.ReleaseID)
				}
				if !confirm(cmd.InOrStdin(), errOut, fmt.Sprintf("Break the release lock of %s held by %s? [y/N] ", b.App, holder)) {
					return withCode(exitFailed, errors.New("not confirmed: the lock is unchanged"))
				}
			}
			broken, held, err := b.Ledger.ForceRelease(ctx, b.App)
			if err != nil {
				return awsError("break the release lock of "+b.App, "dynamodb:DeleteItem", err, nil)
			}
			if !held {
				return withCode(exitPending, fmt.Errorf("the release lock of %s was freed meanwhile: nothing to release", b.App))
			}
			res := map[string]any{"app": b.App, "released": true, "releaseId": broken.ReleaseID, "since": broken.Since}
			if f.json {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "broke the release lock of %s held by %s since %s: the next upload starts a release\n", b.App, broken.ReleaseID, stamp(broken.Since))
			if broken.ReleaseID != v.ReleaseID {
				fmt.Fprintf(cmd.OutOrStdout(), "  note: %s had taken the lock since you looked\n", broken.ReleaseID)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "break the lock, whichever release holds it")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}

func confirm(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprint(out, question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
