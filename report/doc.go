// Package report writes what a training run or an evaluation measured as a folder a browser
// opens: PNG figures drawn with gonum.org/v1/plot (loss and metric curves per epoch, the
// confusion matrix, a binary classifier's ROC and precision-recall curves with its operating
// point, and its reliability diagram) and an index.html that shows them beside the numbers.
package report
