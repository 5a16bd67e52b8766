// A challenger's race in words, for the Models and Stats pages: how far it is (labelled
// drawings so far, of the number that decides it at the latest) and how the two versions
// split the drawings only one of them read right; no p-values.

import { formatNumber, formatPercent, t } from "./i18n.js";

// The {version}, {progress}, {split} and {early} of the models.race and stats.race messages.
export function raceWords(race) {
  const pairs = t("race.pairs", { count: race.pairs });
  // 0: the stage is off (CHALLENGER_PAIRS=0) and only an admin decides the race.
  const needed = Number(race.pairs_needed) || 0;
  const progress = needed
    ? t("race.progress", {
      pairs,
      needed: formatNumber(needed),
      percent: formatPercent(Math.min(1, race.pairs / needed)),
    })
    : t("race.progress_manual", { pairs });
  const split = t("race.split", {
    champion: formatNumber(race.champion_only),
    challenger: formatNumber(race.challenger_only),
  });
  return { version: race.version, progress, split, early: needed ? t("race.early") : "" };
}
