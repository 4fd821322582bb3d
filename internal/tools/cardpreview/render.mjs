// render.mjs draws Adaptive Cards as Microsoft Teams shows them, and
// screenshots each to a PNG cropped to the card:
//
//	node render.mjs CARD.json OUT.png [CARD.json OUT.png ...]
//
// The cards are the ones cardpreview (main.go beside this file) writes with
// pkg/notify's own renderer. The page is built in headless Chromium from
// local files alone: the adaptivecards renderer's browser bundle and
// markdown-it's (Teams renders TextBlock and fact text as markdown), both
// from node_modules, injected inline into an about:blank page. Every request
// the page would make is refused, so nothing leaves the machine.
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM): playwright-core
// drives it and never downloads a browser of its own.

import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const adaptiveCardsJS = require.resolve("adaptivecards/dist/adaptivecards.min.js");
const markdownItJS = require.resolve("markdown-it/browser"); // dist/browser/markdown-it.umd.min.js
const UPNG = require("upng-js");

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Width of a card in a Teams chat or channel post, in CSS pixels.
const cardWidth = 450;
// Pixels per CSS pixel in the PNG: sharp on a high-density screen. The
// screenshot is then cut to a 256-colour palette, which keeps it small on
// disk (the card is flat colours and anti-aliased text) at no visible cost.
const scale = 2;
const paletteColours = 256;
// A PNG over this many bytes fails the run: docs/ must stay light.
const maxPNGBytes = 200 * 1024;

// fontStack is Teams' font first, then look-alikes that Linux, macOS and
// Windows machines have, so that the picture resembles Teams wherever it
// is made (Debian's chromium brings Liberation Sans and DejaVu Sans).
const fontStack =
  "'Segoe UI', 'Segoe UI Web (West European)', -apple-system, BlinkMacSystemFont, " +
  "'Helvetica Neue', 'Liberation Sans', Arial, sans-serif";

// Teams' light theme, after the "microsoft-teams-light" host config that the
// Adaptive Cards designer uses for Teams (samples/HostConfig in
// microsoft/AdaptiveCards): its spacing, font sizes and weights. The text
// colours are darkened here so that they read on white (that config's
// yellow warning text hardly does), and the container backgrounds are pale
// tints of them: an approximation of the client, not its own stylesheet.
function teamsHostConfig() {
  const foreground = {
    default: { default: "#242424", subtle: "#616161" },
    dark: { default: "#242424", subtle: "#616161" },
    light: { default: "#ffffff", subtle: "#f3f2f1" },
    accent: { default: "#5b5fc7", subtle: "#7f85f5" },
    good: { default: "#0e700e", subtle: "#107c10" },
    warning: { default: "#835b00", subtle: "#a36b00" },
    attention: { default: "#c4314b", subtle: "#d13438" },
  };
  const style = (backgroundColor) => ({ backgroundColor, foregroundColors: foreground });
  const fontSizes = { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 };
  const fontWeights = { lighter: 200, default: 400, bolder: 600 };
  return {
    supportsInteractivity: true,
    spacing: { small: 8, default: 12, medium: 16, large: 20, extraLarge: 24, padding: 16 },
    separator: { lineThickness: 1, lineColor: "#e0e0e0" },
    fontTypes: {
      default: { fontFamily: fontStack, fontSizes, fontWeights },
      monospace: { fontFamily: "Consolas, 'Courier New', 'DejaVu Sans Mono', monospace", fontSizes, fontWeights },
    },
    // Whole-pixel line heights, as Teams' type ramp has them (14 px text on
    // 20 px lines), keep the rows of a fact set evenly spaced.
    lineHeights: { small: 16, default: 20, medium: 20, large: 24, extraLarge: 32 },
    containerStyles: {
      default: style("#ffffff"),
      emphasis: style("#f5f5f5"),
      accent: style("#e8ebfa"),
      good: style("#f1faf1"),
      warning: style("#fff9f5"),
      attention: style("#fdf3f4"),
    },
    actions: {
      maxActions: 6,
      spacing: "default",
      buttonSpacing: 8,
      showCard: { actionMode: "inline", inlineTopMargin: 16, style: "emphasis" },
      actionsOrientation: "horizontal",
      actionAlignment: "left",
    },
    adaptiveCard: { allowCustomStyle: false },
    factSet: {
      title: { size: "default", color: "default", isSubtle: false, weight: "bolder", wrap: true, maxWidth: 150 },
      value: { size: "default", color: "default", isSubtle: false, weight: "default", wrap: true },
      spacing: 16,
    },
  };
}

// The page around the card: a Teams channel's background, the card's
// rounded, bordered surface, and Teams' outlined buttons.
const pageCSS = `
  html, body { margin: 0; background: #f5f5f5; }
  #frame { display: inline-block; padding: 12px; background: #f5f5f5; }
  #card {
    width: ${cardWidth}px; box-sizing: border-box; background: #ffffff;
    border: 1px solid #e0e0e0; border-radius: 6px; overflow: hidden;
    box-shadow: 0 1px 2px rgba(0, 0, 0, 0.12);
  }
  #card p { margin: 0; }
  #card strong { font-weight: 600; }
  .ac-pushButton {
    font-family: ${fontStack}; font-size: 14px; font-weight: 600;
    min-height: 32px; padding: 5px 12px; border-radius: 4px;
    background: #ffffff; color: #242424; border: 1px solid #d1d1d1;
    overflow: hidden; text-overflow: ellipsis; white-space: nowrap; cursor: pointer;
  }
`;

async function renderCard(page, card) {
  await page.setContent(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>card</title></head>
<body><div id="frame"><div id="card"></div></div></body></html>`);
  await page.addStyleTag({ content: pageCSS });
  await page.addScriptTag({ path: markdownItJS });
  await page.addScriptTag({ path: adaptiveCardsJS });
  const problems = await page.evaluate(
    ({ card, hostConfig }) => {
      const AC = window.AdaptiveCards;
      const md = window.markdownit({ html: false, linkify: false, breaks: false });
      AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
        result.outputHtml = md.render(text);
        result.didProcess = true;
      };
      const adaptive = new AC.AdaptiveCard();
      adaptive.hostConfig = new AC.HostConfig(hostConfig);
      const context = new AC.SerializationContext();
      adaptive.parse(card, context);
      const element = adaptive.render();
      if (!element) {
        return ["the renderer returned no element"];
      }
      document.getElementById("card").appendChild(element);
      const problems = [];
      for (let i = 0; i < context.eventCount; i++) {
        problems.push(context.getEventAt(i).message);
      }
      for (const e of adaptive.validateProperties().validationEvents) {
        problems.push(e.message);
      }
      return problems;
    },
    { card, hostConfig: teamsHostConfig() },
  );
  await page.evaluate(() => document.fonts.ready);
  return problems;
}

// quantize re-encodes a screenshot with a palette of paletteColours.
function quantize(png) {
  const image = UPNG.decode(png);
  const rgba = UPNG.toRGBA8(image);
  return Buffer.from(UPNG.encode(rgba, image.width, image.height, paletteColours));
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length === 0 || args.length % 2 !== 0) {
    console.error("usage: node render.mjs CARD.json OUT.png [CARD.json OUT.png ...]");
    process.exit(2);
  }
  const browser = await chromium.launch({ executablePath, args: chromiumArgs, headless: true });
  try {
    const context = await browser.newContext({
      viewport: { width: cardWidth + 200, height: 800 },
      deviceScaleFactor: scale,
      colorScheme: "light",
      locale: "en-US",
      serviceWorkers: "block",
    });
    // Nothing is fetched: the page is built from inline content alone.
    await context.route("**/*", (route) => route.abort());
    const page = await context.newPage();
    page.on("pageerror", (err) => {
      console.error("page error:", err.message);
      process.exitCode = 1;
    });
    for (let i = 0; i < args.length; i += 2) {
      const [input, output] = [args[i], args[i + 1]];
      const card = JSON.parse(await readFile(input, "utf8"));
      const problems = await renderCard(page, card);
      if (problems.length > 0) {
        throw new Error(`${input}: the renderer reported: ${problems.join("; ")}`);
      }
      const shot = await page.locator("#frame").screenshot({ animations: "disabled", caret: "hide" });
      const png = quantize(shot);
      if (png.length > maxPNGBytes) {
        throw new Error(`${output}: ${png.length} bytes, over the ${maxPNGBytes} allowed`);
      }
      await writeFile(output, png);
      console.log(`rendered ${input} -> ${output} (${png.length} bytes)`);
    }
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error("render.mjs:", err.message || err);
  process.exit(1);
});
