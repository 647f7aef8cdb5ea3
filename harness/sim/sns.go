package sim

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// SNS is the simulated SNS API: Publish to the region's topics, with
// every message kept for assertions. It implements awsapi.SNS.
type SNS struct{ r *Region }

// Message is one published notification.
type Message struct {
	ID         string
	TopicARN   string
	Subject    string
	Body       string
	Attributes map[string]string // string values of the message attributes
	Caller     string
	At         time.Time
}

// AddTopic creates a topic (the fixture creates Options.TopicARN).
func (r *Region) AddTopic(arn string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topics[arn] = true
}

// Subscribe adds an email subscription to a topic, confirmed or still
// waiting for its confirmation.
func (r *Region) Subscribe(topicARN, email string, confirmed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.subscriptions == nil {
		r.subscriptions = map[string][]subscription{}
	}
	subs := r.subscriptions[topicARN]
	for i := range subs {
		if subs[i].email == email {
			subs[i].confirmed = confirmed
			return
		}
	}
	r.subscriptions[topicARN] = append(subs, subscription{email: email, confirmed: confirmed, id: fmt.Sprintf("%08x-0000-4000-8000-%012x", len(subs)+1, len(r.subscriptions))})
}

type subscription struct {
	email, id string
	confirmed bool
}

// ListSubscriptionsByTopic lists a topic's subscriptions. One not yet
// confirmed has the SubscriptionArn "PendingConfirmation". Amazon SNS API
// Reference, "ListSubscriptionsByTopic" and "Subscription"
// (sns/latest/api/API_Subscription.html); Amazon SNS Developer Guide,
// "Email notifications" (sns/latest/dg/sns-email-notifications.html): a
// subscription is pending until the link in the confirmation mail is
// followed. An unknown topic is NotFound.
func (s *SNS) ListSubscriptionsByTopic(ctx context.Context, in *sns.ListSubscriptionsByTopicInput, _ ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error) {
	return call(ctx, s.r, ServiceSNS, "ListSubscriptionsByTopic", in, func(string) (*sns.ListSubscriptionsByTopicOutput, error) {
		r := s.r
		topic := aws.ToString(in.TopicArn)
		if !r.topics[topic] {
			return nil, apiError(ServiceSNS, "NotFound", "Topic does not exist")
		}
		out := &sns.ListSubscriptionsByTopicOutput{}
		for _, sub := range r.subscriptions[topic] {
			arn := "PendingConfirmation"
			if sub.confirmed {
				arn = topic + ":" + sub.id
			}
			out.Subscriptions = append(out.Subscriptions, snstypes.Subscription{
				TopicArn: aws.String(topic), Protocol: aws.String("email"), Endpoint: aws.String(sub.email),
				SubscriptionArn: aws.String(arn), Owner: aws.String(r.opts.Account),
			})
		}
		return out, nil
	})
}

// Messages returns every message published, oldest first.
func (r *Region) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.messages...)
}

// Publish sends a message to a topic; an unknown topic is NotFound, an
// empty or oversized message InvalidParameter.
func (s *SNS) Publish(ctx context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return call(ctx, s.r, ServiceSNS, "Publish", in, func(caller string) (*sns.PublishOutput, error) {
		r := s.r
		if in.Message == nil {
			return nil, paramRequired("PublishInput", "Message")
		}
		topic := aws.ToString(in.TopicArn)
		if topic == "" {
			topic = aws.ToString(in.TargetArn)
		}
		if !r.topics[topic] {
			return nil, apiError(ServiceSNS, "NotFound", "Topic does not exist")
		}
		switch {
		case *in.Message == "":
			return nil, apiError(ServiceSNS, "InvalidParameter", "Invalid parameter: Empty message")
		case len(*in.Message) > 256*1024:
			return nil, apiError(ServiceSNS, "InvalidParameter", "Invalid parameter: Message too long")
		}
		attrs := map[string]string{}
		for k, v := range in.MessageAttributes {
			attrs[k] = aws.ToString(v.StringValue)
		}
		m := Message{ID: r.uuid(), TopicARN: topic, Subject: aws.ToString(in.Subject), Body: *in.Message,
			Attributes: maps.Clone(attrs), Caller: caller, At: r.now()}
		r.messages = append(r.messages, m)
		return &sns.PublishOutput{MessageId: aws.String(m.ID)}, nil
	})
}
