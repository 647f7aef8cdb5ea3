package sim

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
)

// Scheduler is the simulated EventBridge Scheduler API. One-time
// schedules, at(...), fire when the caller runs RunDueSchedules after the
// clock has passed them. It implements awsapi.Scheduler.
type Scheduler struct{ r *Region }

type schedule struct {
	name, group, arn, expression, timezone, description string
	at                                                  time.Time // zero for rate() and cron(), which never fire here
	target                                              schedtypes.Target
	window                                              schedtypes.FlexibleTimeWindow
	after                                               schedtypes.ActionAfterCompletion
	state                                               string
	created, modified                                   time.Time
	fired                                               bool
	caller                                              string
}

// Firing is one schedule invoking its target.
type Firing struct {
	Name, Group, ARN string
	TargetARN        string
	RoleARN          string
	Input            string
	// Due is the time the schedule named; At is when it fired, the
	// simulated time at RunDueSchedules.
	Due, At time.Time
}

// OnSchedule registers what receives due schedules' invocations (the
// local engine invokes the target Lambda). Without a handler firings are
// only recorded.
func (r *Region) OnSchedule(fn func(ctx context.Context, f Firing) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onSchedule = fn
}

// AddScheduleGroup creates a schedule group (the "default" group always
// exists; the fixture creates Options.ScheduleGroup).
func (r *Region) AddScheduleGroup(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groups[name] = r.now()
}

// RunDueSchedules fires every enabled schedule whose time has come, in
// time order, into the OnSchedule handler; a schedule with
// ActionAfterCompletion DELETE is deleted once it has fired. It returns
// the firings and the handler's errors, joined.
func (r *Region) RunDueSchedules(ctx context.Context) ([]Firing, error) {
	r.mu.Lock()
	now := r.now()
	var due []*schedule
	for _, key := range r.scheduleOrder {
		s, ok := r.schedules[key]
		if ok && !s.fired && s.state == string(schedtypes.ScheduleStateEnabled) && !s.at.IsZero() && !s.at.After(now) {
			due = append(due, s)
		}
	}
	sortSchedules(due)
	var firings []Firing
	for _, s := range due {
		s.fired = true
		f := Firing{Name: s.name, Group: s.group, ARN: s.arn, TargetARN: aws.ToString(s.target.Arn),
			RoleARN: aws.ToString(s.target.RoleArn), Input: aws.ToString(s.target.Input), Due: s.at, At: now}
		firings = append(firings, f)
		if s.after == schedtypes.ActionAfterCompletionDelete {
			r.dropSchedule(s.group + "/" + s.name)
		}
	}
	r.firings = append(r.firings, firings...)
	handler := r.onSchedule
	r.mu.Unlock()

	var errs []error
	if handler != nil {
		for _, f := range firings {
			errs = append(errs, handler(ctx, f))
		}
	}
	return firings, errors.Join(errs...)
}

// dropSchedule deletes a schedule. Called with r.mu held.
func (r *Region) dropSchedule(key string) {
	delete(r.schedules, key)
	r.scheduleOrder = slices.DeleteFunc(r.scheduleOrder, func(k string) bool { return k == key })
}

func sortSchedules(s []*schedule) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].at.Before(s[j-1].at); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Firings returns every firing so far, oldest first.
func (r *Region) Firings() []Firing {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Firing(nil), r.firings...)
}

func groupName(g *string) string {
	if aws.ToString(g) == "" {
		return "default"
	}
	return *g
}

// CreateSchedule creates a schedule; a name already in the group is
// ConflictException, an unknown group ResourceNotFoundException.
func (s *Scheduler) CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error) {
	return call(ctx, s.r, ServiceScheduler, "CreateSchedule", in, func(caller string) (*scheduler.CreateScheduleOutput, error) {
		r := s.r
		m := missing(map[string]bool{"FlexibleTimeWindow": in.FlexibleTimeWindow != nil, "Name": in.Name != nil,
			"ScheduleExpression": in.ScheduleExpression != nil, "Target": in.Target != nil})
		if in.Target != nil {
			if in.Target.Arn == nil {
				m = append(m, "Target.Arn")
			}
			if in.Target.RoleArn == nil {
				m = append(m, "Target.RoleArn")
			}
		}
		if len(m) > 0 {
			return nil, paramRequired("CreateScheduleInput", m...)
		}
		group := groupName(in.GroupName)
		if _, ok := r.groups[group]; !ok && group != "default" {
			return nil, apiErrorf(ServiceScheduler, "ResourceNotFoundException", "Schedule group %s does not exist.", group)
		}
		key := group + "/" + *in.Name
		if _, ok := r.schedules[key]; ok {
			return nil, apiErrorf(ServiceScheduler, "ConflictException", "Schedule %s already exists.", *in.Name)
		}
		at, err := parseScheduleExpression(*in.ScheduleExpression, aws.ToString(in.ScheduleExpressionTimezone))
		if err != nil {
			return nil, err
		}
		now := r.now()
		sc := &schedule{
			name: *in.Name, group: group, arn: r.arn("scheduler", "schedule/"+key), expression: *in.ScheduleExpression,
			timezone: aws.ToString(in.ScheduleExpressionTimezone), description: aws.ToString(in.Description),
			at: at, target: *in.Target, window: *in.FlexibleTimeWindow, after: in.ActionAfterCompletion,
			state: string(in.State), created: now, modified: now, caller: caller,
		}
		if sc.state == "" {
			sc.state = string(schedtypes.ScheduleStateEnabled)
		}
		if sc.after == "" {
			sc.after = schedtypes.ActionAfterCompletionNone
		}
		r.schedules[key] = sc
		r.scheduleOrder = append(r.scheduleOrder, key)
		return &scheduler.CreateScheduleOutput{ScheduleArn: aws.String(sc.arn)}, nil
	})
}

// parseScheduleExpression reads at(yyyy-mm-ddThh:mm:ss) in the time zone
// (UTC by default). rate() and cron() are accepted but never fire in the
// simulator: greenlight only creates one-time schedules.
func parseScheduleExpression(expr, tz string) (time.Time, error) {
	invalid := apiErrorf(ServiceScheduler, "ValidationException", "Invalid Schedule Expression %s.", expr)
	switch {
	case strings.HasPrefix(expr, "at(") && strings.HasSuffix(expr, ")"):
		loc := time.UTC
		if tz != "" {
			var err error
			if loc, err = time.LoadLocation(tz); err != nil {
				return time.Time{}, apiErrorf(ServiceScheduler, "ValidationException", "Invalid ScheduleExpressionTimezone %s.", tz)
			}
		}
		t, err := time.ParseInLocation("2006-01-02T15:04:05", expr[3:len(expr)-1], loc)
		if err != nil {
			return time.Time{}, invalid
		}
		return t.UTC(), nil
	case strings.HasPrefix(expr, "rate(") && strings.HasSuffix(expr, ")"),
		strings.HasPrefix(expr, "cron(") && strings.HasSuffix(expr, ")"):
		return time.Time{}, nil
	}
	return time.Time{}, invalid
}

// GetSchedule returns a schedule; an unknown one is
// ResourceNotFoundException.
func (s *Scheduler) GetSchedule(ctx context.Context, in *scheduler.GetScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error) {
	return call(ctx, s.r, ServiceScheduler, "GetSchedule", in, func(string) (*scheduler.GetScheduleOutput, error) {
		if in.Name == nil {
			return nil, paramRequired("GetScheduleInput", "Name")
		}
		sc, ok := s.r.schedules[groupName(in.GroupName)+"/"+*in.Name]
		if !ok {
			return nil, apiErrorf(ServiceScheduler, "ResourceNotFoundException", "Schedule %s does not exist.", *in.Name)
		}
		target := sc.target
		window := sc.window
		out := &scheduler.GetScheduleOutput{
			Arn: aws.String(sc.arn), Name: aws.String(sc.name), GroupName: aws.String(sc.group),
			ScheduleExpression: aws.String(sc.expression), State: schedtypes.ScheduleState(sc.state),
			Target: &target, FlexibleTimeWindow: &window, ActionAfterCompletion: sc.after,
			CreationDate: aws.Time(sc.created), LastModificationDate: aws.Time(sc.modified),
		}
		if sc.timezone != "" {
			out.ScheduleExpressionTimezone = aws.String(sc.timezone)
		}
		if sc.description != "" {
			out.Description = aws.String(sc.description)
		}
		return out, nil
	})
}

// DeleteSchedule deletes a schedule; an unknown one is
// ResourceNotFoundException.
func (s *Scheduler) DeleteSchedule(ctx context.Context, in *scheduler.DeleteScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.DeleteScheduleOutput, error) {
	return call(ctx, s.r, ServiceScheduler, "DeleteSchedule", in, func(string) (*scheduler.DeleteScheduleOutput, error) {
		if in.Name == nil {
			return nil, paramRequired("DeleteScheduleInput", "Name")
		}
		key := groupName(in.GroupName) + "/" + *in.Name
		if _, ok := s.r.schedules[key]; !ok {
			return nil, apiErrorf(ServiceScheduler, "ResourceNotFoundException", "Schedule %s does not exist.", *in.Name)
		}
		s.r.dropSchedule(key)
		return &scheduler.DeleteScheduleOutput{}, nil
	})
}
