// Command bench measures greenlight: it runs releases on the local engine
// (the happy path in each data mode, then each injected fault, then the
// same behind a load balancer) and reports
// what each costs in state transitions, Lambda invocations, AWS calls,
// modelled time and money, then starts every handler of the real bootstrap
// cold under the Lambda Runtime Interface Emulator. `make bench` runs it;
// bench/README.md explains every column and the budgets.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/release"
)

// Budgets the figures are read against (docs/performance.md).
const (
	BudgetTransitions         = 40 // state transitions of the happy path without a data volume
	BudgetTransitionsWithData = 60 // … and with one, in either data mode or traffic mode
	// BudgetTransitionsALB: the happy path without a data volume behind a
	// load balancer, the default four steps. Each round of a step's checks
	// costs three transitions (ShiftTraffic, AllTrafficShifted?,
	// BakeTrafficStep), three rounds a step at the default bakes.
	BudgetTransitionsALB  = 60
	BudgetPollingOverhead = 0.05 // share of the modelled lead time
	BudgetWindowOverFloor = 1.3  // maintenance window ÷ its physical floor, each data mode
	BudgetMoveWindow      = 30.0 // modelled seconds, data mode move, either traffic mode
	// A fleet's release against the same release of one instance
	// (alb/none): no state per instance, and every check over the whole
	// side in one pass.
	BudgetFleetTransitions = 5    // state transitions more or fewer, any fleet size
	BudgetFleetLeadTime    = 0.15 // share of lead time more or less, fleet of 10
)

// transitionBudget is a happy path's budget of state transitions.
func transitionBudget(r Row) int {
	switch {
	case r.DataMode != release.DataNone:
		return BudgetTransitionsWithData
	case r.Traffic == release.TrafficALB:
		return BudgetTransitionsALB
	}
	return BudgetTransitions
}

// happy reports whether a row is a happy path, through the Elastic IP
// (happy/<data mode>) or the load balancer (alb/<data mode>): the rows
// the budgets apply to.
func happy(r Row) bool {
	return strings.HasPrefix(r.Scenario, "happy/") || strings.HasPrefix(r.Scenario, "alb/") || strings.HasPrefix(r.Scenario, "fleet/")
}

func main() {
	var (
		configPath = flag.String("config", "greenlight.example.json", "the config releases run with")
		asset      = flag.String("asset", "build/bootstrap.zip", "the shipped Lambda asset (arm64), zipped")
		binary     = flag.String("binary", "build/lambda/bootstrap", "the shipped bootstrap (arm64)")
		bootstrap  = flag.String("bootstrap", "", "the same bootstrap built for this host, for the cold starts; empty skips them")
		emulator   = flag.String("rie", "", "the Runtime Interface Emulator as module@version (go install); required with -bootstrap")
		out        = flag.String("out", "bench", "directory for release.json and coldstart.json")
		strict     = flag.Bool("strict", false, "exit 1 when a figure is over its budget")
	)
	flag.Parse()
	if err := run(os.Stdout, *configPath, *asset, *binary, *bootstrap, *emulator, *out, *strict); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, configPath, asset, binary, bootstrap, emulator, out string, strict bool) error {
	ctx := context.Background()
	cfg, err := release.LoadConfig(configPath)
	if err != nil {
		return err
	}
	progress := func(s string) { fmt.Fprintf(os.Stderr, "bench: %s\n", s) }
	// The emulator builds while the releases run.
	rie := make(chan emulatorBuild, 1)
	if bootstrap != "" {
		if emulator == "" {
			return fmt.Errorf("-bootstrap needs -rie module@version")
		}
		dir, err := os.MkdirTemp("", "greenlight-bench-rie-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		progress("building the Runtime Interface Emulator " + emulator)
		go func() {
			path, err := buildEmulator(ctx, emulator, dir)
			rie <- emulatorBuild{path, err}
		}()
	}
	rows, memory, err := runReleases(ctx, cfg, asset, progress)
	if err != nil {
		return err
	}
	over := printReleases(w, rows)
	if err := writeJSON(filepath.Join(out, "release.json"), map[string]any{
		"prices": map[string]any{"date": PriceDate, "usdPerStateTransition": USDPerStateTransition,
			"usdPerLambdaRequest": USDPerLambdaRequest, "usdPerArmGbSecond": USDPerArmGBSecond},
		"budgets": map[string]any{"happyPathTransitions": BudgetTransitions, "happyPathTransitionsWithData": BudgetTransitionsWithData,
			"albHappyPathTransitions": BudgetTransitionsALB, "pollingOverheadShare": BudgetPollingOverhead,
			"maintenanceWindowOverFloor": BudgetWindowOverFloor, "moveMaintenanceWindowSeconds": BudgetMoveWindow,
			"fleetTransitionsDelta": BudgetFleetTransitions, "fleetOf10LeadTimeShare": BudgetFleetLeadTime},
		"overBudget": over,
		"rows":       rows,
	}); err != nil {
		return err
	}

	if bootstrap != "" {
		built := <-rie
		if built.err != nil {
			return built.err
		}
		cs, err := coldStarts(ctx, memory, asset, binary, bootstrap, emulator, built.path, progress)
		if err != nil {
			return err
		}
		printColdStarts(w, cs)
		if err := writeJSON(filepath.Join(out, "coldstart.json"), cs); err != nil {
			return err
		}
	}
	written := []string{filepath.Join(out, "release.json")}
	if bootstrap != "" {
		written = append(written, filepath.Join(out, "coldstart.json"))
	}
	fmt.Fprintf(w, "\nwritten: %s\n", strings.Join(written, ", "))
	if strict && len(over) > 0 {
		return fmt.Errorf("over budget: %s", strings.Join(over, "; "))
	}
	return nil
}

type emulatorBuild struct {
	path string
	err  error
}

func coldStarts(ctx context.Context, memory map[string]float64, asset, binary, bootstrap, emulator, rie string, progress func(string)) (ColdStarts, error) {
	abs, err := filepath.Abs(bootstrap)
	if err != nil {
		return ColdStarts{}, err
	}
	cs, err := measureColdStarts(ctx, rie, abs, memory, progress)
	if err != nil {
		return cs, err
	}
	cs.Emulator = emulator
	for _, f := range []struct {
		path string
		size *int64
	}{{asset, &cs.ZipBytes}, {binary, &cs.BinaryBytes}, {bootstrap, &cs.MeasuredBinaryBytes}} {
		st, err := os.Stat(f.path)
		if err != nil {
			return cs, err
		}
		*f.size = st.Size()
	}
	return cs, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// printReleases prints the release table, the calls by operation and the
// budgets, and returns the figures over budget.
func printReleases(w io.Writer, rows []Row) []string {
	fmt.Fprintf(w, "Releases on the local engine (modelled AWS time; prices of %s)\n\n", PriceDate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\toutcome\tsteps\tweights\ttransitions\tinvocations\tAPI calls\tlead time\tcritical path\tpolling overhead\tmaint. window\tcost/release\twall")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.1f s\t%.1f s\t%.1f s (%.1f %%)\t%.1f s\t$%.5f\t%.2f s\n",
			r.Scenario, r.Outcome, stepsString(r.TrafficSteps), weightsString(r), r.StateTransitions, r.LambdaInvocations, r.AWSAPICalls, r.LeadTimeSeconds,
			r.CriticalPathSeconds, r.PollingOverheadSeconds, 100*r.PollingOverheadShare, r.MaintenanceWindowSeconds, r.Cost.TotalUSD, r.WallSeconds)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nWhat users saw (real requests to the real apps; writes read back from the serving volume)\n\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\trequests\tfailed\tmaintenance\tin flight\tlongest outage\tsticky flips\twrites acknowledged\tlost writes")
	for _, r := range rows {
		u := r.Users
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f s\t%d\t%d\t%d\n", r.Scenario, u.Requests, u.Failed, u.Maintenance, u.InFlight,
			u.LongestFailureSeconds, u.StickyFlips, u.Acknowledged, u.Lost)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nAWS API calls by operation\n\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"operation"}
	for i := range rows {
		header = append(header, string(rune('A'+i)))
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, op := range operations(rows) {
		cells := []string{op}
		for _, r := range rows {
			cell := "."
			if n := r.AWSAPICallsByOperation[op]; n > 0 {
				cell = fmt.Sprint(n)
			}
			cells = append(cells, cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	var legend []string
	for i, r := range rows {
		legend = append(legend, fmt.Sprintf("%c %s", 'A'+i, r.Scenario))
	}
	fmt.Fprintf(w, "(%s)\n", strings.Join(legend, ", "))

	fmt.Fprintf(w, "\nCost of the happy path (data mode none): ")
	for _, r := range rows {
		if r.Scenario == "happy/"+release.DataNone {
			fmt.Fprintf(w, "Step Functions $%.5f + Lambda requests $%.6f + Lambda compute $%.6f (%.2f GB-s) = $%.5f\n",
				r.Cost.StepFunctionsUSD, r.Cost.LambdaRequestsUSD, r.Cost.LambdaComputeUSD, r.Cost.LambdaGBSeconds, r.Cost.TotalUSD)
		}
	}

	for _, r := range rows {
		if len(r.MaintenanceWindowParts) == 0 || !happy(r) {
			continue
		}
		fmt.Fprintf(w, "\nMaintenance window, %s: %.1f s modelled, physical floor %.1f s (%.2f × the floor)\n\n",
			r.Scenario, r.MaintenanceWindowSeconds, r.MaintenanceWindowFloorSeconds, r.MaintenanceWindowSeconds/r.MaintenanceWindowFloorSeconds)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  action	modelled	floor")
		for _, p := range r.MaintenanceWindowParts {
			fmt.Fprintf(tw, "  %s\t%.1f s\t%.1f s\n", p.Action, p.Seconds, p.FloorSeconds)
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\nBudgets\n\n")
	var over []string
	check := func(ok bool, format string, args ...any) {
		verdict := "ok  "
		if !ok {
			verdict = "OVER"
			over = append(over, fmt.Sprintf(format, args...))
		}
		fmt.Fprintf(w, "  %s %s\n", verdict, fmt.Sprintf(format, args...))
	}
	for _, r := range rows {
		check(r.Users.Requests > 0 && r.Users.Lost == 0, "%s: %d of %d acknowledged writes lost, %d requests (budget: none lost, users present)",
			r.Scenario, r.Users.Lost, r.Users.Acknowledged, r.Users.Requests)
		if r.Fault != "" && strings.HasPrefix(r.Scenario, localrun.AppFaultErrors) {
			check(r.Outcome == release.RolledBack, "%s: %s, %d requests failed before the rollback (want RolledBack)", r.Scenario, r.Outcome, r.Users.Failed)
		}
		if !happy(r) {
			continue
		}
		failedBudget, why := 0, "none: every answer but the maintenance page is OK"
		if r.Traffic == release.TrafficALB {
			check(r.Users.StickyFlips == 0, "%s: %d sticky flips (budget 0)", r.Scenario, r.Users.StickyFlips)
		} else if r.DataMode == release.DataNone {
			failedBudget, why = r.Users.InFlight, "the requests in flight at the remap"
		}
		check(r.Users.Failed <= failedBudget, "%s: %d failed requests (budget %d, %s)", r.Scenario, r.Users.Failed, failedBudget, why)
		transitions := transitionBudget(r)
		check(r.StateTransitions <= transitions, "%s: %d state transitions (budget %d)", r.Scenario, r.StateTransitions, transitions)
		check(r.PollingOverheadShare <= BudgetPollingOverhead, "%s: polling overhead %.1f %% of the lead time (budget %.0f %%)",
			r.Scenario, 100*r.PollingOverheadShare, 100*BudgetPollingOverhead)
		if r.DataMode != release.DataNone {
			ratio := 0.0
			if r.MaintenanceWindowFloorSeconds > 0 {
				ratio = r.MaintenanceWindowSeconds / r.MaintenanceWindowFloorSeconds
			}
			check(r.MaintenanceWindowFloorSeconds > 0 && ratio <= BudgetWindowOverFloor, "%s: maintenance window %.1f s = %.2f × its floor %.1f s (budget %.1f ×)",
				r.Scenario, r.MaintenanceWindowSeconds, ratio, r.MaintenanceWindowFloorSeconds, BudgetWindowOverFloor)
		}
		if r.DataMode == release.DataMove {
			check(r.MaintenanceWindowSeconds <= BudgetMoveWindow, "%s: maintenance window %.1f s (budget %.0f s)",
				r.Scenario, r.MaintenanceWindowSeconds, BudgetMoveWindow)
		}
	}
	if one, ok := rowNamed(rows, "alb/"+release.DataNone); ok {
		for _, r := range rows {
			if !strings.HasPrefix(r.Scenario, "fleet/") {
				continue
			}
			d := r.StateTransitions - one.StateTransitions
			check(d >= -BudgetFleetTransitions && d <= BudgetFleetTransitions, "%s: %d state transitions, %+d against a fleet of one (budget ±%d)",
				r.Scenario, r.StateTransitions, d, BudgetFleetTransitions)
			if r.Fleet >= 10 && one.LeadTimeSeconds > 0 {
				share := r.LeadTimeSeconds/one.LeadTimeSeconds - 1
				check(share >= -BudgetFleetLeadTime && share <= BudgetFleetLeadTime, "%s: lead time %.1f s, %+.1f %% against a fleet of one (budget ±%.0f %%)",
					r.Scenario, r.LeadTimeSeconds, 100*share, 100*BudgetFleetLeadTime)
			}
		}
	}
	return over
}

// rowNamed finds a scenario's row.
func rowNamed(rows []Row, name string) (Row, bool) {
	for _, r := range rows {
		if r.Scenario == name {
			return r, true
		}
	}
	return Row{}, false
}

// stepsString is a shift's steps as the table shows them: the weights of
// the steps that started, "/"-separated, a failed one marked "!"; "-"
// through the Elastic IP.
func stepsString(steps []TrafficStep) string {
	var parts []string
	for _, st := range steps {
		if !st.Started {
			continue
		}
		p := fmt.Sprint(st.Weight)
		if st.Outcome != "" && st.Outcome != "passed" && st.Outcome != "promoted" {
			p += "!"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "/")
}

// weightsString is the final shares of traffic, live/candidate in
// percent; "-" through the Elastic IP.
func weightsString(r Row) string {
	if r.Weights == nil {
		return "-"
	}
	return fmt.Sprintf("%d/%d", r.Weights.Live, r.Weights.Candidate)
}

func printColdStarts(w io.Writer, cs ColdStarts) {
	fmt.Fprintf(w, "\nCold starts under the Lambda Runtime Interface Emulator (%s)\n", cs.Emulator)
	fmt.Fprintf(w, "measured: the bootstrap built for this host (linux/%s) with the shipped build's flags; median of %d fresh starts each\n\n", cs.Arch, cs.Repeats)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "handler\tinit\tfirst invoke\thandler run\tfirst answer (no AWS)")
	for _, r := range cs.Results {
		run := "-"
		if r.HandlerMs >= 0 {
			run = fmt.Sprintf("%.1f ms", r.HandlerMs)
		}
		fmt.Fprintf(tw, "%s\t%.1f ms\t%.1f ms\t%s\t%s\n", r.Handler, r.InitMs, r.FirstInvokeMs, run, r.Answer)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nshipped asset (linux/arm64): %s zipped (%s unzipped); measured linux/%s binary %s\n",
		mib(cs.ZipBytes), mib(cs.BinaryBytes), cs.Arch, mib(cs.MeasuredBinaryBytes))
	fmt.Fprintf(w, "billed INIT if every function starts cold once per release: $%.7f\n", cs.InitUSDPerRelease)
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }
