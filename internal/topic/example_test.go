package topic_test

import (
	"fmt"

	"github.com/heraldmq/herald/internal/topic"
	"github.com/heraldmq/herald/internal/vcd"
)

func ExampleMatch() {
	t := topic.Publish("7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b", "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f")
	fmt.Println(topic.Match("publish/7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/*", t))
	fmt.Println(topic.Match("publish/#", t))
	fmt.Println(topic.Match("metrics/#", t))
	fmt.Println(topic.Match("#", "$SYS/uptime"))
	// Output:
	// true
	// true
	// false
	// false
}

func ExampleContains() {
	fmt.Println(topic.Contains("publish/#", "publish/+/+"))
	fmt.Println(topic.Contains("publish/#", "#"))
	fmt.Println(topic.Contains("publish/a/#", "publish/a/*"))
	// Output:
	// true
	// false
	// true
}

func ExampleValidateFilter() {
	fmt.Println(topic.ValidateFilter("publish/+/#"))
	fmt.Println(topic.ValidateFilter("publish/#/x"))
	fmt.Println(topic.ValidateTopic("publish/+"))
	// Output:
	// <nil>
	// multi-level wildcard is not the last level at byte 8
	// wildcard in topic name at byte 8
}

func ExamplePublish() {
	fmt.Println(topic.Publish("7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b", "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"))
	fmt.Println(topic.Metrics("7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b", "2f4e6a8c-0b1d-4e3f-a5c7-9e1b3d5f7a9c"))
	// Output:
	// publish/7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f
	// metrics/7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/2f4e6a8c-0b1d-4e3f-a5c7-9e1b3d5f7a9c
}

func ExampleExtensionIn() {
	fmt.Println(topic.ExtensionIn("acme", "backup", "1.0.0"))
	fmt.Println(topic.ExtensionOut("acme", "backup", "1.0.0"))
	// Output:
	// topic/extension/acme/backup/1.0.0/ext
	// topic/extension/acme/backup/1.0.0/vcd
}

func ExampleAllowedFilters() {
	admin := vcd.Principal{Kind: vcd.PrincipalUser, Level: vcd.LevelOrgAdmin,
		OrgID: "7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b", UserID: "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"}
	fmt.Println(topic.AllowedFilters(admin))
	// Output:
	// [publish/7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/#]
}

func ExampleCanSubscribe() {
	sys := vcd.Principal{Kind: vcd.PrincipalUser, Level: vcd.LevelSysAdmin,
		OrgID: vcd.SystemOrgID, UserID: "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9"}
	for _, f := range []string{"publish/*/*", "#", "publish/urn:vcloud:org:7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/*", "publish/#/x"} {
		fmt.Printf("%s: %v\n", f, topic.CanSubscribe(sys, f))
	}
	// Output:
	// publish/*/*: granted
	// #: denied
	// publish/urn:vcloud:org:7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/*: granted, never matches
	// publish/#/x: malformed
}

func ExampleCanPublish() {
	feed := vcd.Principal{Kind: vcd.PrincipalService, Producer: true, Publish: []string{"publish/#"}}
	user := vcd.Principal{Kind: vcd.PrincipalUser, Level: vcd.LevelSysAdmin}
	t := topic.Publish("7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b", "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f")
	fmt.Println(topic.CanPublish(feed, t))
	fmt.Println(topic.CanPublish(feed, "publish/ACME/alice"))
	fmt.Println(topic.CanPublish(user, t))
	// Output:
	// granted
	// malformed
	// denied
}

func ExampleSubject() {
	s, err := topic.Subject(topic.Publish("7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b", "4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f"))
	fmt.Println(s, err)
	// Output:
	// publish.7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b.4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f <nil>
}

func ExampleFilterSubject() {
	fmt.Println(topic.FilterSubject("publish/#"))
	fmt.Println(topic.FilterSubject("publish/7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/*"))
	fmt.Println(topic.FilterSubject("#"))
	fmt.Println(topic.FilterSubjects("topic/extension/acme/#"))
	// Output:
	// publish.>
	// publish.7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b.*
	// >
	// [topic.extension.acme topic.extension.acme.>]
}

func ExampleEscapeSubject() {
	s := topic.EscapeSubject("topic/extension/acme/backup/1.0.0/ext")
	t, _ := topic.UnescapeSubject(s)
	fmt.Println(s)
	fmt.Println(t)
	// Output:
	// topic.extension.acme.backup.1=2E0=2E0.ext
	// topic/extension/acme/backup/1.0.0/ext
}

func ExampleIndex() {
	var subs topic.Index[string]
	_ = subs.Add("publish/7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/*", "org admin")
	_ = subs.Add("publish/#", "sysadmin")
	_ = subs.Add("metrics/#", "metrics reader")
	subs.Match("publish/7f3e2b1a-5c4d-4e6f-8a9b-0c1d2e3f4a5b/4b2d6f8a-1c3e-4a5b-9d7f-2e4a6c8b0d1f", func(who string) {
		fmt.Println(who)
	})
	// Unordered output:
	// org admin
	// sysadmin
}
