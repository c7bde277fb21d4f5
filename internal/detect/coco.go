package detect

import (
	"image"
	"image/jpeg"
	"io"
)

// COCOLabels are the 80 COCO classes in the order COCO-trained models
// (NanoDet, DeepStack, CodeProject.AI) number them; person is 0.
var COCOLabels = [80]string{
	"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
	"fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
	"elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
	"skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
	"wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
	"broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
	"dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
	"toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
}

// DefaultLabels returns the labels a camera's detection tracks when its
// configuration names none: people, vehicles and the animals that come to
// a door. This is the one list: the hub's configuration defaults
// (internal/config) and the pipeline's read it here, and the web app's
// zones page is checked against it.
func DefaultLabels() []string {
	return []string{"person", "car", "bicycle", "motorcycle", "truck", "bus", "dog", "cat", "bird", "horse"}
}

// EncodeJPEG writes img as a baseline JPEG of the given quality (1..100).
// The JPEG is a frame: callers seal it or send it only where the household
// chose, never to a log.
func EncodeJPEG(w io.Writer, img *RGB, quality int) error {
	if img == nil || img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		return ErrFrameSize
	}
	m := image.NewRGBA(image.Rect(0, 0, img.W, img.H))
	for i, j := 0, 0; i < len(img.Pix); i, j = i+3, j+4 {
		m.Pix[j], m.Pix[j+1], m.Pix[j+2], m.Pix[j+3] = img.Pix[i], img.Pix[i+1], img.Pix[i+2], 0xff
	}
	return jpeg.Encode(w, m, &jpeg.Options{Quality: quality})
}
