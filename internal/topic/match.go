package topic

import "strings"

// Match reports whether the MQTT topic filter matches the topic name. A whole-level '+'
// or '*' matches exactly one level (possibly empty); '#' as the last level matches any
// number of remaining levels, including none, so "a/#" matches "a" [MQTT-4.7.1-2]. A
// filter whose first level is a wildcard does not match a topic beginning with '$'
// [MQTT-4.7.2-1]. Match reports false when the filter or the topic is not valid
// (ValidateFilter, ValidateTopic). It does not allocate.
func Match(filter, topic string) bool {
	if checkFilter(filter).err != nil || checkTopic(topic).err != nil {
		return false
	}
	return match(filter, topic)
}

// match is Match for a valid filter and topic.
func match(f, t string) bool {
	if t[0] == '$' && isWild(firstLevel(f)) {
		return false
	}
	for {
		fl, fr, fmore := strings.Cut(f, "/")
		if fl == "#" {
			return true
		}
		tl, tr, tmore := strings.Cut(t, "/")
		if !isSingle(fl) && fl != tl {
			return false
		}
		if !tmore {
			// The topic ends here: the filter must end too, or continue only with a
			// final '#', which also matches its parent level.
			return !fmore || fr == "#"
		}
		if !fmore {
			return false
		}
		f, t = fr, tr
	}
}

// Contains reports whether every topic that filter inner can match is also matched by
// filter outer. It is how subscriptions are authorized (VCD-COMPAT §7.2): "publish/+/+"
// and "publish/a/*" are inside "publish/#", while "#" is not, and neither is
// "publish/a/#" inside "publish/a/+" (it matches "publish/a" too). Contains reports
// false when either filter is invalid.
func Contains(outer, inner string) bool {
	if checkFilter(outer).err != nil || checkFilter(inner).err != nil {
		return false
	}
	// A literal first level starting with '$' matches topics that a wildcard first
	// level never matches [MQTT-4.7.2-1].
	if il := firstLevel(inner); !isWild(il) && strings.HasPrefix(il, "$") && isWild(firstLevel(outer)) {
		return false
	}
	for {
		ol, or, omore := strings.Cut(outer, "/")
		if ol == "#" {
			return true
		}
		il, ir, imore := strings.Cut(inner, "/")
		switch {
		case il == "#":
			// inner matches this level's parent and any depth below it; a single
			// level of outer covers neither.
			return false
		case isSingle(ol):
		case isSingle(il) || ol != il:
			return false
		}
		if !imore {
			return !omore || or == "#"
		}
		if !omore {
			return false
		}
		outer, inner = or, ir
	}
}
