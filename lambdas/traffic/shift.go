package traffic

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/probe"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Behind an ALB the candidate is registered in the target group that does
// not serve and must be healthy there before any traffic moves to it.
const (
	// registerPoll is how often the registration is looked at within an
	// invocation: health checks run every 30 s by default, and a target
	// is healthy after its first passing one.
	registerPoll = 5 * time.Second
	// RegisterTimeout bounds the wait for health: registration (about
	// 10 s) and a few health check intervals. A target the load balancer
	// finds unhealthy fails at once; one still initial after this long
	// fails too.
	RegisterTimeout = 5 * time.Minute
)

// Register registers the candidate side (every instance) behind the load
// balancer and waits, within its invocation, until the load balancer
// reports all of them healthy. A retried or repeated pass finds them
// registered and only looks, and records the side healthy only once.
func (h Handler) Register(ctx context.Context, d release.Doc) (release.Register, error) {
	reg := release.Register{Since: h.D.Now().UTC()}
	if d.Register != nil {
		reg = *d.Register
	}
	rec, err := h.D.Current(ctx, d)
	if err != nil {
		return reg, err
	}
	side := candidateSide(d)
	router := h.D.Router(d.Config)
	var health traffic.Health
	ready, err := h.D.Poll(ctx, step.PollBudget, func(ctx context.Context) (bool, time.Duration, error) {
		var err error
		if health, err = router.Register(ctx, side); err != nil {
			return false, 0, err
		}
		var unhealthy []string
		for _, id := range side.Instances {
			if why := health.Unhealthy[id]; strings.HasPrefix(why, "unhealthy") {
				unhealthy = append(unhealthy, fmt.Sprintf("%s (%s)", id, why))
			}
		}
		if len(unhealthy) > 0 {
			return false, 0, release.TargetUnhealthy{Cause: release.Causef(
				"the load balancer finds %s unhealthy in target group %s: check that the target group's health check (port, path, expected code) matches the app's and that the instance's security group lets the load balancer reach it",
				strings.Join(unhealthy, ", "), health.Group)}
		}
		// Ready only when every instance of the side is healthy: Health
		// lists each one not healthy (initial, not registered) as unhealthy.
		return health.Ready(), registerPoll, nil
	})
	reg.Checks++
	reg.Group, reg.Healthy, reg.Unhealthy = health.Group, health.Healthy, health.Unhealthy
	var unhealthy release.TargetUnhealthy
	switch {
	case errors.As(err, &unhealthy):
		return reg, unhealthy
	case errors.Is(err, traffic.ErrUnsupported):
		return reg, release.ShiftFailed{Cause: release.Cause(err.Error())}
	case err != nil:
		return reg, step.Traffic(err)
	}
	h.D.Did(ctx, d.ReleaseID, "elasticloadbalancing:RegisterTargets", "group", reg.Group, "instance", side.String(), "healthy", ready)
	if !ready {
		if h.D.Now().Sub(reg.Since) > RegisterTimeout {
			return reg, release.TargetUnhealthy{Cause: release.Causef("%s is not healthy in target group %s %s after it was registered (%s)",
				sideName(d), reg.Group, RegisterTimeout, describe(reg.Unhealthy))}
		}
		reg.WaitSeconds = int(registerPoll / time.Second)
		return reg, nil
	}
	reg.Ready = true
	detail := fmt.Sprintf("%s registered in target group %s and healthy", side, reg.Group)
	if len(side.Instances) > 1 {
		detail = fmt.Sprintf("%d candidates (%s) registered in target group %s and all healthy", len(side.Instances), strings.Join(side.Instances, ", "), reg.Group)
	}
	if rec.Recorded(release.StateRegisterCandidate, detail) {
		return reg, nil
	}
	err = h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Event: &ledger.Event{Step: release.StateRegisterCandidate, Detail: detail},
	})
	if err != nil {
		return reg, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	return reg, nil
}

// candidateSide is every instance of the candidate: behind a load
// balancer the whole side is registered and shifted to at once.
func candidateSide(d release.Doc) traffic.Side {
	return traffic.Side{Instances: d.Candidate.IDs()}
}

// sideName words the candidate side: its instance, or how many.
func sideName(d release.Doc) string {
	if ids := d.Candidate.IDs(); len(ids) != 1 {
		return fmt.Sprintf("the %d candidates", len(ids))
	}
	return d.Candidate.First().InstanceID
}

func describe(m map[string]string) string {
	var parts []string
	for id, why := range m {
		parts = append(parts, id+" "+why)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// Shift moves traffic to the candidate through the load balancer, one
// step at a time: each pass sets the step's weights (again, if anything
// changed them: the weights AWS shows are the truth), then makes one round
// of checks: the alarms, the candidate's error rate against the live
// side's, and the health check and smoke tests through the load balancer.
// A failed check fails the release, and the rollback sends all traffic
// back. Once a step has baked (traffic.stepBake; the last, at 100 %, for
// bakeTime, as a switch does) with every round green, the next step
// starts in the same pass. An operator's abort fails the release; a
// promote skips to 100 %.
func (h Handler) Shift(ctx context.Context, d release.Doc) (release.Shift, error) {
	s := newShift(d)
	if d.Shift != nil {
		s = *d.Shift
	}
	led := h.D.Ledger()
	rec, err := led.Get(ctx, d.App, d.ReleaseID)
	if err != nil {
		return s, step.AWS("dynamodb:GetItem", d.ReleaseID, err)
	}
	if err := step.AbortedBy(rec.AbortRequested); err != nil {
		return s, err
	}
	last := len(s.Steps) - 1
	if r := rec.PromoteRequested; r != nil && s.PromotedBy == "" {
		s.PromotedBy = r.By
		if s.Step < last {
			for i := s.Step; i < last; i++ {
				s.Steps[i].Outcome = "promoted"
			}
			s.Steps[last].StartedAt = time.Time{}
			s.Step = last
		}
	}
	cur := &s.Steps[s.Step]
	fresh := cur.StartedAt.IsZero()
	if err := h.setWeights(ctx, d, &s, cur); err != nil {
		return s, err
	}
	if s.TrafficAt.IsZero() {
		arrived, err := h.trafficArrivedThroughLB(ctx, d, &s)
		if err != nil || !arrived {
			return s, err
		}
	}
	bake := stepBake(d, s.Step == last)
	if fresh {
		// The new weights take seconds to apply and the metrics a minute
		// to publish: the first round of checks comes one interval later.
		s.WaitSeconds = waitFor(bake, 0)
		return s, nil
	}
	if err := h.checkRound(ctx, d, &s, cur); err != nil {
		cur.Outcome = err.Error()
		return s, err
	}
	elapsed := h.D.Now().Sub(cur.StartedAt)
	if elapsed < bake {
		s.WaitSeconds = waitFor(bake, elapsed)
		return s, nil
	}
	cur.Outcome = "passed"
	detail := fmt.Sprintf("%d %% of the traffic on %s for %s: %d rounds green", cur.Weight, sideName(d), bake, cur.Checks)
	if s.Step == last {
		s.Ready = true
		detail = fmt.Sprintf("%s serves all of %s's traffic through %s: verified for %s", sideName(d), d.App, d.Live.PublicIP, bake)
	}
	if err := led.Update(ctx, d.App, d.ReleaseID, ledger.Change{Event: &ledger.Event{Step: release.StateShiftTraffic, Detail: detail}}); err != nil {
		return s, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	if s.Ready {
		return s, nil
	}
	s.Step++
	next := &s.Steps[s.Step]
	if err := h.setWeights(ctx, d, &s, next); err != nil {
		return s, err
	}
	s.WaitSeconds = waitFor(stepBake(d, s.Step == last), 0)
	return s, nil
}

// newShift plans a release's steps: the configured ones, or straight to
// 100 % on a switch back (the kept side was live before).
func newShift(d release.Doc) release.Shift {
	weights := d.Config.TrafficSteps()
	if d.IsRollback() {
		weights = []int{100}
	}
	s := release.Shift{Steps: make([]release.TrafficStep, len(weights))}
	for i, w := range weights {
		s.Steps[i].Weight = w
	}
	return s
}

// stepBake is how long a step holds: traffic.stepBake, and for the last
// step, where the candidate has all the traffic, bakeTime, as after an
// Elastic IP switch.
func stepBake(d release.Doc, last bool) time.Duration {
	if last {
		return d.Config.BakeTime.D()
	}
	return d.Config.StepBake()
}

// waitFor is the wait before the next round: Interval(bake), or what is
// left of the bake if that is shorter.
func waitFor(bake, elapsed time.Duration) int {
	wait := Interval(bake)
	if left := bake - elapsed; left < wait {
		wait = left
	}
	return max(1, int((wait+time.Second-1)/time.Second))
}

// setWeights makes the router's weights the step's. The first time, the
// intent is written before the weights move (users may write to the
// candidate's data from then on; the rollback reads it) and the step's
// start recorded after.
func (h Handler) setWeights(ctx context.Context, d release.Doc, s *release.Shift, st *release.TrafficStep) error {
	first := st.StartedAt.IsZero()
	if first && s.Step == 0 {
		if err := h.switching(ctx, d); err != nil {
			return err
		}
	}
	mv, err := h.D.Router(d.Config).Shift(ctx, candidateSide(d), st.Weight)
	if errors.Is(err, traffic.ErrUnsupported) {
		return release.ShiftFailed{Cause: release.Cause(err.Error())}
	}
	if err != nil {
		return step.Traffic(err)
	}
	if mv.Changed {
		h.D.Did(ctx, d.ReleaseID, "shift", "weight", st.Weight, "to", candidateSide(d).String(), "front", mv.Detail, "first", first)
	}
	if !first {
		if mv.Changed {
			h.D.Log.WarnContext(ctx, "shift: the weights had changed outside greenlight; set again", "release", d.ReleaseID, "weight", st.Weight)
		}
		return nil
	}
	st.StartedAt = h.D.Now().UTC()
	return h.switched(ctx, d, release.StateShiftTraffic,
		fmt.Sprintf("%d %% of the traffic to %s through %s", st.Weight, sideName(d), d.Live.PublicIP),
		map[string]any{"traffic": ledger.Traffic{Weight: st.Weight, Step: s.Step + 1, Steps: len(s.Steps)}})
}

// trafficArrivedThroughLB records when users first reach the candidate.
// With a data cutover the live side is down for maintenance, so that is
// when the app's health check passes through the load balancer again
// (watched within the invocation): the new weights take a few seconds to
// apply, meanwhile the load balancer still sends users to the live side;
// without one, the first step's start.
func (h Handler) trafficArrivedThroughLB(ctx context.Context, d release.Doc, s *release.Shift) (bool, error) {
	if d.Cutover == nil {
		s.TrafficAt = s.Steps[0].StartedAt
		return true, nil
	}
	split, err := h.D.Router(d.Config).Split(ctx)
	if err != nil {
		return false, step.Traffic(err)
	}
	if !split.Probe {
		// Not reachable by a probe (checkRound): the weights' change is
		// the best measure there is.
		s.TrafficAt = s.Steps[0].StartedAt
		return true, nil
	}
	arrived, err := h.D.Poll(ctx, step.PollBudget, func(ctx context.Context) (bool, time.Duration, error) {
		rep := probe.RunAs(ctx, h.D.HTTP, split.Front, split.Port, split.ProbeHost, probe.Checks(d.Config)[:1], h.D.Now())
		return rep.Checks[0].Passed, settlePoll, nil
	})
	if err != nil {
		return false, err
	}
	if !arrived {
		if since := h.D.Now().Sub(s.Steps[0].StartedAt); since > settleTimeout {
			return false, release.ShiftFailed{Cause: release.Causef("%s still shows the maintenance page %s after all traffic was sent to %s", split.Front, settleTimeout, sideName(d))}
		}
		s.WaitSeconds = 1
		return false, nil
	}
	s.TrafficAt = h.D.Now().UTC()
	return true, nil
}

// checkRound is one round of a step's checks.
func (h Handler) checkRound(ctx context.Context, d release.Doc, s *release.Shift, st *release.TrafficStep) error {
	st.Checks++
	if err := h.checkAlarms(ctx, d); err != nil {
		return err
	}
	if err := h.compareErrorRates(ctx, d, st); err != nil {
		return err
	}
	split, err := h.D.Router(d.Config).Split(ctx)
	if err != nil {
		return step.Traffic(err)
	}
	if !split.Probe {
		// An HTTPS listener's certificate names the app's domain, not the
		// load balancer's DNS name, and a rule matching more than one
		// literal host name cannot be reached by the app's paths alone:
		// the alarms and the error rates still watch the step.
		return nil
	}
	rep := probe.RunAs(ctx, h.D.HTTP, split.Front, split.Port, split.ProbeHost, probe.Checks(d.Config), h.D.Now())
	st.Last = rep
	if !rep.Passed {
		return release.ShiftFailed{Cause: release.Causef("at %d %%, round %d through %s: %s", st.Weight, st.Checks, split.Front, probe.Failures(rep))}
	}
	return nil
}
