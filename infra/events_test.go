package infra

import (
	"fmt"
	"testing"

	"github.com/greenlight/greenlight/lambdas/registry"
)

// arnOf tells whether v is the ARN attribute of the resource id.
func arnOf(v any, id string) bool {
	return dig(v, "Fn::GetAtt", 0) == id && dig(v, "Fn::GetAtt", 1) == "Arn"
}

// TestRulesMayInvokeTheirFunctions: for every rule that targets a
// function, EventBridge may invoke the function for that rule only (a
// permission with the rule's ARN as SourceArn), and may send the rule's
// undelivered events to the target's dead-letter queue for that rule only
// (a queue policy statement on aws:SourceArn). events.go writes these
// itself, not through awseventstargets, so the template is the check.
func TestRulesMayInvokeTheirFunctions(t *testing.T) {
	s := example(t)
	all := s.Template["Resources"].(map[string]any)
	targeted := map[string]bool{}    // handler -> a rule targets its function
	deadLetters := map[string]bool{} // handler -> its target has a dead-letter queue
	for ruleID, rule := range resources(s, "AWS::Events::Rule") {
		targets, _ := rule["Targets"].([]any)
		for _, target := range targets {
			fn := logicalID(dig(target, "Arn"))
			if dig(all[fn], "Type") != "AWS::Lambda::Function" {
				continue
			}
			handler := fmt.Sprint(dig(all[fn], "Properties", "Handler"))
			targeted[handler] = true
			if dig(target, "Id") == nil || dig(target, "RetryPolicy", "MaximumRetryAttempts") == nil {
				t.Errorf("rule %s: target %s has no Id or no retry policy: %v", ruleID, handler, target)
			}
			invoke := false
			for _, p := range resources(s, "AWS::Lambda::Permission") {
				if logicalID(p["FunctionName"]) == fn && p["Principal"] == eventsPrincipal &&
					p["Action"] == "lambda:InvokeFunction" && arnOf(p["SourceArn"], ruleID) {
					invoke = true
				}
			}
			if !invoke {
				t.Errorf("rule %s targets %s, but no permission lets %s invoke it with the rule's ARN as SourceArn", ruleID, handler, eventsPrincipal)
			}
			dlq := dig(target, "DeadLetterConfig", "Arn")
			if dlq == nil {
				continue
			}
			deadLetters[handler] = true
			queue := logicalID(dlq)
			if dig(all[queue], "Type") != "AWS::SQS::Queue" || !arnOf(dlq, queue) {
				t.Errorf("rule %s: %s's dead-letter queue %v is not a queue's ARN", ruleID, handler, dlq)
				continue
			}
			send := false
			for _, p := range resources(s, "AWS::SQS::QueuePolicy") {
				queues, _ := p["Queues"].([]any)
				mine := false
				for _, q := range queues {
					mine = mine || logicalID(q) == queue
				}
				if !mine {
					continue
				}
				for _, st := range statements(p["PolicyDocument"]) {
					if dig(st, "Effect") == "Allow" && has(strs(dig(st, "Principal", "Service")), eventsPrincipal) &&
						has(strs(dig(st, "Action")), "sqs:SendMessage") && arnOf(dig(st, "Resource"), queue) &&
						arnOf(dig(st, "Condition", "ArnEquals", "aws:SourceArn"), ruleID) {
						send = true
					}
				}
			}
			if !send {
				t.Errorf("rule %s parks %s's undelivered events in %s, but the queue's policy does not let %s sqs:SendMessage on aws:SourceArn the rule's ARN",
					ruleID, handler, queue, eventsPrincipal)
			}
		}
	}
	for _, h := range []string{registry.Start, registry.Watch, registry.Retire} {
		if !targeted[h] {
			t.Errorf("no rule targets the %s function", h)
		}
	}
	for _, h := range []string{registry.Start, registry.Watch} {
		if !deadLetters[h] {
			t.Errorf("the rule that targets %s has no dead-letter queue", h)
		}
	}
}
