package fiql_test

import (
	"fmt"
	"time"

	"github.com/heraldmq/herald/internal/fiql"
)

func Example() {
	e, err := fiql.Parse("timestamp=gt=2025-03-14T09:00:00.000Z;(user.name==al*,eventType==com/vmware/vcloud/event/user/lockout)")
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := fiql.Compile(e, fiql.Fields{"timestamp": fiql.KindTime, "user.name": fiql.KindText, "eventType": fiql.KindText})
	if err != nil {
		fmt.Println(err)
		return
	}
	event := map[string]fiql.Value{
		"timestamp": fiql.Time(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)),
		"user.name": fiql.Text("Alice"),
		"eventType": fiql.Text("com/vmware/vcloud/event/session/login"),
	}
	fmt.Println(f.Match(func(field string) fiql.Value { return event[field] }))
	for _, c := range f.Constraints() {
		fmt.Println(c.Field, c.Op, c.Value.Time.Format(time.RFC3339))
	}
	// Output:
	// true
	// timestamp =gt= 2025-03-14T09:00:00Z
}

func ExampleParse() {
	e, err := fiql.Parse("a==1,b==2;c==3")
	fmt.Printf("%T %v %v\n", e, e, err)
	_, err = fiql.Parse("user.name==al*;(eventType==x")
	fmt.Println(err)
	// Output:
	// fiql.Or a==1,b==2;c==3 <nil>
	// fiql: syntax error at position 15: unclosed '('
}

func ExampleFields_Validate() {
	e, _ := fiql.Parse("user.name==alice;colour==blue")
	err := fiql.Fields{"user.name": fiql.KindText}.Validate(e)
	fmt.Println(err)
	// Output:
	// fiql: field "colour" at position 17: unknown field
}
