"""What the classifier measures say of generated images: the recognisable share, class coverage and
KL, conditional accuracy, and CAS."""

from __future__ import annotations

import math

import torch

from gancli.metrics.classifier.network import accuracy, check_images
from gancli.metrics.classifier.reference import ReferenceClassifier
from gancli.metrics.classifier.training import ClassifierRecipe, Progress, train_classifier, train_order

SMOOTHING = 1e-6  # added to every class's sample share before the KL, so a missing class costs ln(p/1e-6)


def classifier_scores(reference: ReferenceClassifier, fake_pixels: torch.Tensor,
                      requested: torch.Tensor | None = None, confident: float = 0.9) -> dict[str, float]:
    """Scores of generated images by the reference classifier:

    - recognisable: the share whose top class probability is at least `confident`;
    - classes_covered: classes present in the data whose predicted count is at least half of
      what the data's frequencies expect (histogram * N), out of classes (K);
    - class_kl: KL(data histogram || histogram of predicted classes), the latter smoothed by adding
      SMOOTHING to each share and renormalising, so it is finite (at most about ln(1/SMOOTHING) = 13.8);
    - conditional_accuracy, when `requested` (the class each sample was made for) is given: the
      share predicted as that class;
    - classifier_accuracy: the reference's held-out accuracy, to judge the others by.
    """
    if not len(fake_pixels):
        raise ValueError("scoring needs at least one generated image")
    probabilities = reference.probabilities(fake_pixels)
    top, predicted = probabilities.max(1)
    count = len(predicted)
    predicted_counts = torch.bincount(predicted, minlength=reference.classes).double()
    expected = reference.histogram * count
    covered = ((predicted_counts >= expected / 2) & (reference.histogram > 0)).sum()
    sample = predicted_counts / count + SMOOTHING
    sample /= sample.sum()
    data = reference.histogram
    present = data > 0
    kl = (data[present] * (data[present] / sample[present]).log()).sum()
    scores = {"recognisable": float((top >= confident).double().mean()), "classes_covered": float(covered),
              "classes": float(reference.classes), "class_kl": float(kl)}
    if requested is not None:
        if requested.shape != (count,):
            raise ValueError(f"{count} samples need {count} requested classes, got shape {tuple(requested.shape)}")
        scores["conditional_accuracy"] = float((predicted == requested.cpu().long()).double().mean())
    scores["classifier_accuracy"] = reference.accuracy
    return scores


def classification_accuracy_score(fake_pixels: torch.Tensor, fake_labels: torch.Tensor, real_pixels: torch.Tensor,
                                  real_labels: torch.Tensor, heldout: torch.Tensor, classes: int, seed: int = 0,
                                  progress: Progress | None = None,
                                  recipe: ClassifierRecipe = ClassifierRecipe()) -> dict[str, float]:
    """CAS (Ravuri & Vinyals 2019): a fresh classifier trained by `recipe` on the generated labelled
    images only, tested on the real held-out images; beside it, the same classifier (seed, epochs)
    trained on as many real images from outside `heldout` (the first ones in `heldout_split`'s
    train order) and tested on the same images. {"cas", "cas_real", "cas_ratio": cas / cas_real}."""
    check_images(fake_pixels, fake_labels, classes)
    check_images(real_pixels, real_labels, classes)
    if fake_pixels.shape[1:] != real_pixels.shape[1:]:
        raise ValueError(f"generated images are {tuple(fake_pixels.shape[1:])}, "
                         f"real ones {tuple(real_pixels.shape[1:])}")
    heldout = heldout.cpu().long()
    if not len(heldout):
        raise ValueError("CAS needs at least one held-out real image")
    test_pixels, test_labels = real_pixels[heldout], real_labels[heldout]
    real_train = train_order(len(real_pixels), heldout)[:len(fake_pixels)]
    epochs = recipe.epochs_for(len(fake_pixels))
    steps = [epochs * math.ceil(len(images) / recipe.batch_size) for images in (fake_pixels, real_train)]

    def report_from(start: int) -> Progress | None:  # one count across both trainings
        return None if progress is None else (lambda done, _: progress(start + done, sum(steps)))

    on_fake = train_classifier(fake_pixels, fake_labels, classes, seed, epochs, recipe, progress=report_from(0))
    cas = accuracy(on_fake, test_pixels, test_labels)
    on_real = train_classifier(real_pixels[real_train], real_labels[real_train], classes, seed, epochs, recipe,
                               progress=report_from(steps[0]))
    cas_real = accuracy(on_real, test_pixels, test_labels)
    return {"cas": cas, "cas_real": cas_real, "cas_ratio": cas / cas_real if cas_real > 0 else float("nan")}
