"""The classifier measures of labelled digit datasets (MNIST, SVHN): a small CNN trained once on
the real labelled images, cached, then used to score generated ones.

It is a measure, not part of a GAN: it never sees the generated images it scores while training,
and its accuracy is measured on real held-out images it never trained on, reported beside every
score so a user can judge how far to trust it. `classification_accuracy_score` is the other way
round (CAS, Ravuri & Vinyals 2019): a classifier trained on generated labelled images only,
tested on real held-out ones.

    reference = reference_classifier(images.pixels, images.labels, classes=10, notify=print)
    classifier_scores(reference, fake_pixels, requested=fake_labels)

`network.py` holds the CNN, `training.py` how it trains (`ClassifierRecipe`), `reference.py` the
cached classifier of a dataset, `scores.py` the measures. How long it trains and how accurate it
gets: benchmarks/README.md ("The classifier measure").
"""

from gancli.metrics.classifier.network import DigitClassifier
from gancli.metrics.classifier.reference import ReferenceClassifier, reference_classifier
from gancli.metrics.classifier.scores import classification_accuracy_score, classifier_scores
from gancli.metrics.classifier.training import ClassifierRecipe, heldout_split, train_classifier

__all__ = ["ClassifierRecipe", "DigitClassifier", "ReferenceClassifier", "classification_accuracy_score",
           "classifier_scores", "heldout_split", "reference_classifier", "train_classifier"]
