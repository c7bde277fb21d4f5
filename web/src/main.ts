// Vigil web app entry. Each page module registers its routes with route();
// importing it here is all the wiring a page needs. Routes match in this
// order: the first pattern that fits a path wins.
import './style.css';
import { start } from './router';
import { startShell } from './shell';
import { startPWA } from './pwa';
import './pages/auth';
import './pages/households';
import './pages/home';
import './pages/enrol';
import './pages/live';
import './pages/timeline';
import './pages/events';
import './pages/health';
import './pages/share';
import './pages/donations';
import './pages/demo';
import './pages/zones';
import './pages/addcamera';
import './pages/history';
import './pages/staff';
import './pages/label';

startShell();
start();
startPWA();
