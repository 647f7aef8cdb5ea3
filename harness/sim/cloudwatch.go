package sim

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// CloudWatch is the simulated CloudWatch API: the metric alarms
// Options.Alarms creates (their state set by SetAlarm) and the
// AWS/ApplicationELB request metrics of the load balancer's target groups.
// It implements awsapi.CloudWatch.
//
// Pages quoted below are under docs.aws.amazon.com/AmazonCloudWatch/
// latest/APIReference/ unless named otherwise.
type CloudWatch struct{ r *Region }

type alarm struct {
	name, arn string
	state     cwtypes.StateValue
	reason    string
	// updated is when the state was last set, transitioned when it last
	// changed: StateUpdatedTimestamp, "The time stamp of the last update to
	// the value of either the StateValue or EvaluationState parameters",
	// and StateTransitionedTimestamp, "The date and time that the alarm's
	// StateValue most recently changed" (MetricAlarm, API_MetricAlarm.html).
	updated, transitioned time.Time
}

// fixtureAlarmReason is the reason an alarm of the fixture has been OK
// with since before the start, in the words CloudWatch uses.
const fixtureAlarmReason = "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching]."

// SetAlarm sets an alarm's state and reason, as CloudWatch does when the
// alarm's metric crosses its threshold (or SetAlarmState does): tests and
// the local engine use it to raise or clear an alarm. The alarm must be
// one of Options.Alarms; state is OK, ALARM or INSUFFICIENT_DATA.
func (r *Region) SetAlarm(name string, state cwtypes.StateValue, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.alarms[name]
	if !ok {
		return errUnknown("alarm", name)
	}
	if !slices.Contains(state.Values(), state) {
		return fmt.Errorf("sim: %q is no alarm state (%v)", state, state.Values())
	}
	now := r.now()
	if a.state != state {
		a.transitioned = now
	}
	a.state, a.reason, a.updated = state, reason, now
	return nil
}

// DescribeAlarms lists metric alarms, all or by name or name prefix, and
// by state. Names that match no alarm are left out, not an error: "An
// existing alarm name, otherwise no response is returned"
// (mon-describe-alarms, AmazonCloudWatch/latest/cli/cli-mon-describe-alarms.html).
// AlarmNames takes at most 100 names, and "If this parameter
// [AlarmNamePrefix] is specified, you cannot specify AlarmNames"
// (API_DescribeAlarms.html). Alarms come back in name order.
func (c *CloudWatch) DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	return call(ctx, c.r, ServiceCloudWatch, "DescribeAlarms", in, func(string) (*cloudwatch.DescribeAlarmsOutput, error) {
		r := c.r
		if len(in.AlarmNames) > 100 {
			return nil, apiErrorf(ServiceCloudWatch, "ValidationError", "1 validation error detected: Value '%v' at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100", in.AlarmNames)
		}
		if in.AlarmNamePrefix != nil && len(in.AlarmNames) > 0 {
			return nil, apiError(ServiceCloudWatch, "InvalidParameterCombination", "AlarmNamePrefix and AlarmNames cannot both be specified")
		}
		out := &cloudwatch.DescribeAlarmsOutput{}
		if len(in.AlarmTypes) > 0 && !slices.Contains(in.AlarmTypes, cwtypes.AlarmTypeMetricAlarm) {
			return out, nil
		}
		names := make([]string, 0, len(r.alarms))
		for name := range r.alarms {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			a := r.alarms[name]
			switch {
			case len(in.AlarmNames) > 0 && !slices.Contains(in.AlarmNames, name),
				in.AlarmNamePrefix != nil && !strings.HasPrefix(name, *in.AlarmNamePrefix),
				in.StateValue != "" && in.StateValue != a.state:
				continue
			}
			out.MetricAlarms = append(out.MetricAlarms, cwtypes.MetricAlarm{
				AlarmName: aws.String(a.name), AlarmArn: aws.String(a.arn), StateValue: a.state, StateReason: aws.String(a.reason),
				StateUpdatedTimestamp: aws.Time(a.updated), StateTransitionedTimestamp: aws.Time(a.transitioned),
			})
		}
		return out, nil
	})
}

// The metrics the load balancer publishes and GetMetricData serves: the
// namespace and the two target metrics greenlight compares.
const (
	albNamespace    = "AWS/ApplicationELB"
	metricRequests  = "RequestCount"
	metricTarget5xx = "HTTPCode_Target_5XX_Count"
)

// queryID is a valid MetricDataQuery Id: "The valid characters are
// letters, numbers, and underscore. The first character must be a
// lowercase letter" (MetricDataQuery, API_MetricDataQuery.html).
var queryID = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]{0,254}$`)

// GetMetricData answers metric queries on the load balancer's metrics:
// RequestCount and HTTPCode_Target_5XX_Count of the AWS/ApplicationELB
// namespace, per target group (dimensions TargetGroup and LoadBalancer) or
// for the whole load balancer (LoadBalancer alone), with the Sum
// statistic ("The most useful statistic is Sum").
//
// What the load balancer publishes, from "CloudWatch metrics for your
// Application Load Balancer"
// (elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html):
// "Elastic Load Balancing reports metrics to CloudWatch only when requests
// are flowing through the load balancer … If there are no requests flowing
// through the load balancer or no data for a metric, the metric is not
// reported"; RequestCount is "Always reported" (so a minute in which the
// load balancer carried requests has a RequestCount datapoint for each
// group, 0 for a group that got none) and the HTTPCode_Target counts only
// when "There is a nonzero value". Dimension values are "the final portion
// of the load balancer ARN" (app/name/id) and of the target group ARN
// (targetgroup/name/id); "You can't retrieve statistics using combinations
// of dimensions that were not specially published", so any other
// combination, metric or namespace finds no data. A minute's datapoints
// are readable Latencies.MetricPublishDelay after it ends.
//
// So a period without traffic has no datapoint at all: the result lists
// only the periods that have one, as CloudWatch does, not zeros. The
// request rules (API_GetMetricData.html, MetricStat): at most 500 queries;
// StartTime inclusive, rounded down to the minute, EndTime exclusive; a
// period of standard resolution "can be as short as one minute (60
// seconds) and must be a multiple of 60"; results newest first unless
// ScanBy says otherwise. Metric math, Metrics Insights and statistics
// other than Sum are not modelled: such a query fails with a plain error.
func (c *CloudWatch) GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	return call(ctx, c.r, ServiceCloudWatch, "GetMetricData", in, func(string) (*cloudwatch.GetMetricDataOutput, error) {
		r := c.r
		if in.StartTime == nil || in.EndTime == nil || in.MetricDataQueries == nil {
			return nil, paramRequired("GetMetricDataInput", missing(map[string]bool{"StartTime": in.StartTime != nil, "EndTime": in.EndTime != nil, "MetricDataQueries": in.MetricDataQueries != nil})...)
		}
		if n := len(in.MetricDataQueries); n == 0 || n > 500 {
			return nil, apiErrorf(ServiceCloudWatch, "ValidationError", "1 validation error detected: Value at 'metricDataQueries' failed to satisfy constraint: Member must have length between 1 and 500 (got %d)", n)
		}
		start, end := in.StartTime.UTC().Truncate(time.Minute), in.EndTime.UTC()
		if !start.Before(end) {
			return nil, apiError(ServiceCloudWatch, "ValidationError", "The parameter StartTime must be less than the parameter EndTime.")
		}
		seen := map[string]bool{}
		out := &cloudwatch.GetMetricDataOutput{}
		for n, q := range in.MetricDataQueries {
			id := aws.ToString(q.Id)
			if !queryID.MatchString(id) {
				return nil, apiErrorf(ServiceCloudWatch, "ValidationError", "The value %s for parameter MetricDataQueries.member.%d.Id is invalid.", id, n+1)
			}
			if seen[id] {
				return nil, apiErrorf(ServiceCloudWatch, "ValidationError", "The values for parameter id in MetricDataQueries are not unique.")
			}
			seen[id] = true
			if q.Expression != nil || q.MetricStat == nil {
				return nil, fmt.Errorf("sim: query %s: only MetricStat queries are modelled, not expressions", id)
			}
			ms := q.MetricStat
			if stat := aws.ToString(ms.Stat); stat != "Sum" {
				return nil, fmt.Errorf("sim: query %s: statistic %q is not modelled (Sum only)", id, stat)
			}
			period := aws.ToInt32(ms.Period)
			if period < 60 || period%60 != 0 {
				return nil, apiErrorf(ServiceCloudWatch, "InvalidParameterValue", "The parameter MetricDataQueries.member.%d.MetricStat.Period must be a multiple of 60 for metrics of standard resolution.", n+1)
			}
			res := cwtypes.MetricDataResult{Id: aws.String(id), Label: q.Label, StatusCode: cwtypes.StatusCodeComplete}
			if res.Label == nil && ms.Metric != nil {
				res.Label = ms.Metric.MetricName
			}
			if q.ReturnData != nil && !*q.ReturnData {
				continue
			}
			series := r.albSeries(ms.Metric)
			step := time.Duration(period) * time.Second
			for from := start; from.Before(end); from = from.Add(step) {
				to := minTime(from.Add(step), end)
				sum, found := 0.0, false
				for minute, v := range series {
					if !minute.Before(from) && minute.Before(to) {
						sum, found = sum+v, true
					}
				}
				if found {
					res.Timestamps = append(res.Timestamps, from)
					res.Values = append(res.Values, sum)
				}
			}
			if in.ScanBy != cwtypes.ScanByTimestampAscending {
				slices.Reverse(res.Timestamps)
				slices.Reverse(res.Values)
			}
			out.MetricDataResults = append(out.MetricDataResults, res)
		}
		return out, nil
	})
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// albSeries is the per-minute datapoints of one metric as the load
// balancer published them and CloudWatch can return them now: minute →
// value. A metric it does not publish has none. Called with r.mu held.
func (r *Region) albSeries(m *cwtypes.Metric) map[time.Time]float64 {
	out := map[time.Time]float64{}
	if m == nil || aws.ToString(m.Namespace) != albNamespace {
		return out
	}
	name := aws.ToString(m.MetricName)
	if name != metricRequests && name != metricTarget5xx {
		return out
	}
	dims := map[string]string{}
	for _, d := range m.Dimensions {
		dims[aws.ToString(d.Name)] = aws.ToString(d.Value)
	}
	var lb *loadBalancer
	for _, arn := range r.balancerOrder {
		if r.balancers[arn].suffix() == dims["LoadBalancer"] {
			lb = r.balancers[arn]
		}
	}
	if lb == nil {
		return out
	}
	var groups []*targetGroup
	switch len(dims) {
	case 1: // the load balancer as a whole
		for _, arn := range r.groupOrder {
			if slices.Contains(r.loadBalancersOf(arn), lb.arn) {
				groups = append(groups, r.targetGroups[arn])
			}
		}
	case 2:
		for _, arn := range r.groupOrder {
			if tg := r.targetGroups[arn]; tg.suffix() == dims["TargetGroup"] {
				groups = append(groups, tg)
			}
		}
	}
	if len(groups) == 0 {
		return out
	}
	visible := r.now().Add(-time.Minute - r.lat.MetricPublishDelay)
	for minute := range lb.active {
		if minute.After(visible) {
			continue
		}
		v := 0
		for _, tg := range groups {
			if c := tg.metrics[minute]; c != nil {
				if name == metricRequests {
					v += c.requests
				} else {
					v += c.target5xx
				}
			}
		}
		if name == metricRequests || v > 0 {
			out[minute] = float64(v)
		}
	}
	return out
}
