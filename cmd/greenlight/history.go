package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/ledger"
)

func newHistory() *cobra.Command {
	var f targetFlags
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the app's releases, newest first",
		Long: `history lists the app's releases, newest first, one line each: release id,
version, when it started, lead time (upload to live, for released ones),
maintenance window (the time users saw the maintenance page, with a data
volume cutover), who approved it, and the outcome (with the error that
ended a failed one). Releases still running show their current state.

Exit codes: 0 listed (also when there is nothing to list); 2 bad --limit;
3 invalid config; 4 AWS, the stack or the local engine could not be
reached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return withCode(exitUsage, fmt.Errorf("--limit %d: give a number of releases, 1 or more", limit))
			}
			ctx := cmd.Context()
			b, err := f.open(ctx)
			if err != nil {
				return err
			}
			recs, err := b.Ledger.History(ctx, b.App)
			if err != nil {
				return ledgerError(b, err)
			}
			more := len(recs) > limit
			if more {
				recs = recs[:limit]
			}
			out := cmd.OutOrStdout()
			if f.json {
				rows := []historyRow{}
				for _, r := range recs {
					rows = append(rows, historyRowOf(r))
				}
				return writeJSON(out, map[string]any{"app": b.App, "releases": rows, "more": more})
			}
			if len(recs) == 0 {
				fmt.Fprintf(out, "no releases of %s in %s yet: upload one with `greenlight release FILE%s`\n", b.App, b.Where, b.Hint)
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RELEASE\tVERSION\tSTARTED (UTC)\tLEAD TIME\tMAINTENANCE\tAPPROVED BY\tOUTCOME")
			for _, r := range recs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ReleaseID, dash(r.Version), r.StartedAt.UTC().Format("2006-01-02 15:04"),
					seconds(r.LeadTimeSeconds), seconds(r.MaintenanceWindowSeconds), dash(r.ApprovedBy), outcome(r))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if more {
				fmt.Fprintf(out, "(the newest %d; --limit shows more)\n", limit)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many releases")
	return cmd
}

// historyRow is one release in history --json.
type historyRow struct {
	ReleaseID                string     `json:"releaseId"`
	Version                  string     `json:"version"`
	Kind                     string     `json:"kind,omitempty"`
	Status                   string     `json:"status"`
	StartedAt                time.Time  `json:"startedAt"`
	EndedAt                  *time.Time `json:"endedAt,omitempty"`
	LeadTimeSeconds          float64    `json:"leadTimeSeconds,omitempty"`
	MaintenanceWindowSeconds float64    `json:"maintenanceWindowSeconds,omitempty"`
	ApprovedBy               string     `json:"approvedBy,omitempty"`
	Failure                  string     `json:"failure,omitempty"`
}

func historyRowOf(r ledger.Record) historyRow {
	h := historyRow{ReleaseID: r.ReleaseID, Version: r.Version, Kind: r.Kind, Status: r.Status, StartedAt: r.StartedAt,
		LeadTimeSeconds: r.LeadTimeSeconds, MaintenanceWindowSeconds: r.MaintenanceWindowSeconds, ApprovedBy: r.ApprovedBy, Failure: r.Failure}
	if !r.EndedAt.IsZero() {
		t := r.EndedAt
		h.EndedAt = &t
	}
	return h
}
