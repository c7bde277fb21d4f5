// Package dataset owns the labelling data of donated clips and the dataset
// versions built from them (G7: training data only by consent).
//
// It holds:
//
//   - the annotation payload ([Annotation], [ParseAnnotation]): what an
//     annotator's device seals to the labelling workspace for one donated
//     clip: the clip's geometry, tracks of boxes at keyframes, the annotator
//     and the review state. The cloud stores it sealed and never parses it;
//     only the devices of the workspace's annotators see it in plaintext.
//   - the label schema ([Schema], [DefaultSchema]): the labels a payload may
//     use, versioned;
//   - keyframe interpolation ([Annotation.Boxes]): a track's box at every
//     frame;
//   - dataset versions ([Export], [Validate], [Manifest], [AddMark]): a
//     directory with the frames of accepted annotations as JPEGs, their boxes
//     in both the COCO (package dataset/coco) and the YOLO (package
//     dataset/yolo) formats, and a manifest that lists exactly its items with
//     their lineage (donation, consent, household, annotator, reviewer,
//     clip digest). A version is never rewritten: a revocation that reaches
//     it later is a mark in a separate file (marks.json).
//
// The formats are specified in docs/FORMAT.md. Every payload, manifest and
// dataset file read here is hostile: sizes and counts are bounded before
// allocation, numbers are checked to be finite and inside the frame, and
// the errors say what is wrong and where.
//
// A dataset holds plaintext frames of a household's donated footage: the
// package runs on the devices of the labelling workspace, never in the
// cloud service (internal/deptest forbids the edge). It never logs a frame,
// a box, a label or a payload, and it writes frames only into the dataset
// directory its caller names.
package dataset
