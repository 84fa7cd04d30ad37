// Progressive enhancement: every page works without this file. Loaded as a module, so
// browsers too old for GOV.UK Frontend's JavaScript never run it.
import { initAll } from '../govuk/js/govuk-frontend.min.js';

initAll();
