package train

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/onnxtune/onnxtune/data"
	"github.com/onnxtune/onnxtune/loss"
)

// DataLabels describes ds's class-index labels for the losses and metrics: the number of
// classes (the data set's class names, else one more than its largest label, else 0 for
// unknown) and the positive class that positive (a class name of ds, or an index, as
// ParsePositiveClass reads it) names; "" leaves it to the default, class 1.
func DataLabels(ds data.Dataset, positive string) (loss.Labels, error) {
	names := ds.Classes()
	lab := loss.Labels{Classes: len(names)}
	if names == nil {
		if l, ok := ds.(data.Labeler); ok {
			for _, v := range l.Labels() {
				lab.Classes = max(lab.Classes, int(v)+1)
			}
		}
	}
	if positive == "" {
		return lab, nil
	}
	pos, err := ParsePositiveClass(positive, names, lab.Classes)
	if err != nil {
		return loss.Labels{}, err
	}
	lab.Positive = &pos
	return lab, nil
}

// ParsePositiveClass reads a positive class: one of names (the data set's classes), or a class
// index in [0, classes) (any index when classes is 0, unknown).
func ParsePositiveClass(spec string, names []string, classes int) (int, error) {
	if i := slices.Index(names, spec); i >= 0 {
		return i, nil
	}
	i, err := strconv.Atoi(strings.TrimSpace(spec))
	switch {
	case err == nil && i >= 0 && (classes == 0 || i < classes):
		return i, nil
	case len(names) > 0:
		return 0, fmt.Errorf("positive class %q is not a class of the data: its classes are %s (or an index 0..%d)", spec, strings.Join(names, ", "), len(names)-1)
	case classes > 0:
		return 0, fmt.Errorf("positive class %q is not a class of the data: want a class index 0..%d", spec, classes-1)
	}
	return 0, fmt.Errorf("positive class %q: want a class index (the data names no classes)", spec)
}

// ClassName is class c's name in names, or its index when names has none for it.
func ClassName(names []string, c int) string {
	if c >= 0 && c < len(names) && names[c] != "" {
		return names[c]
	}
	return strconv.Itoa(c)
}

// PositiveLine says which class a binary classifier of lab scores as positive, for train and
// eval to print: "positive class: tumor (label 1 of 2)"; "" when lab is not binary (more
// than two classes and no positive class named).
func PositiveLine(lab loss.Labels, names []string) string {
	if lab.Classes > 2 && lab.Positive == nil {
		return ""
	}
	pos := lab.PositiveClass()
	line := fmt.Sprintf("positive class: %s (label %d", ClassName(names, pos), pos)
	if lab.Classes > 0 {
		line += fmt.Sprintf(" of %d", lab.Classes)
	}
	line += ")"
	if lab.Classes > 2 {
		line += ", against the rest"
	}
	return line
}
